"""All Kubernetes IO the operator does itself (kopf does the watching): status patches, reads and API discovery."""

import base64
import logging
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from database_api.crd import GROUP, PLURAL, VERSION

logger = logging.getLogger(__name__)


class Kube:
    """A thin, typed face over the Kubernetes API for what kopf's own handler patches cannot do."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._custom = client.CustomObjectsApi(api)

    @classmethod
    async def connect(cls) -> "Kube":
        """The same credentials kopf uses: in-cluster service account, else the current kubeconfig."""
        try:
            config.load_incluster_config()
        except config.ConfigException:
            await config.load_kube_config()
        return cls(client.ApiClient())

    async def close(self) -> None:
        await self._api.close()

    async def patch_database_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch the Database's status subresource; a Database deleted meanwhile is not an error."""
        try:
            await self._custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": status},
                _content_type="application/merge-patch+json",
            )
        except ApiException as error:
            if error.status != 404:
                raise
            logger.debug("Database %s/%s is gone; status not written", namespace, name)

    async def read_database(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored Database, or None when it does not exist."""
        try:
            database: dict[str, Any] = await self._custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return database

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's decoded values, or None when it does not exist."""
        try:
            secret = await client.CoreV1Api(self._api).read_namespaced_secret(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}

    async def serves_api_group(self, group: str) -> bool:
        """Whether the cluster serves an API group, e.g. monitoring.coreos.com for ServiceMonitors."""
        groups = await client.ApisApi(self._api).get_api_versions()
        return any(item.name == group for item in groups.groups)
