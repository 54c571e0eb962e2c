// Command pulumi-resource-kubernetes is the pulumi-kubernetes provider plugin.
//
// Upstream's cmd/pulumi-resource-kubernetes embeds schema-embed.json and
// terraform-mapping-embed.json, generated at release time and not part of the module zip.
// toolchain/build.sh generates them (from the schema.json/terraform-mapping.json that ARE
// in the zip, with the version filled in) next to a copy of this file plus an embed.go,
// and builds with -tags dbop_embed and -X .../pkg/version.Version=<version>.
package main

import (
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
