//go:build !dbop_embed

package main

// Without the generated schema the provider cannot work: build it with toolchain/build.sh.
var pulumiSchema, terraformMapping []byte

func init() { panic("pulumi-resource-kubernetes: built without -tags dbop_embed (use toolchain/build.sh)") }
