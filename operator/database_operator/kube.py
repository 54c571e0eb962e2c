"""All Kubernetes IO the operator does itself (kopf does the watching): status patches, reads and API discovery."""

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import yarl
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.stream import WsApiClient

from database_api.backup import BACKUP_PLURAL
from database_api.crd import GROUP, PLURAL, VERSION
from database_operator.leadership import PEERING_GROUP, PEERING_PLURAL, PEERING_VERSION

logger = logging.getLogger(__name__)
T = TypeVar("T")
METRICS_TIMEOUT_SECONDS = 3
STDOUT_CHANNEL, STDERR_CHANNEL, STATUS_CHANNEL = 1, 2, 3


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a pod's container (pods/exec) said and how it ended."""

    exit_code: int
    stdout: str
    stderr: str


async def _unless_missing(read: Awaitable[T]) -> T | None:
    """The object a read returns, or None when it does not exist."""
    try:
        return await read
    except ApiException as error:
        if error.status == 404:
            return None
        raise


async def _unless_missing_unread(write: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
    """A write whose answer is not needed, sent with `_preload_content=False`: the client then leaves the object
    it returns unparsed (for a pod, most of a label patch's CPU: every date in it parsed one by one). Errors
    still raise ApiException, as the client would; a missing object is not an error."""
    response: aiohttp.ClientResponse = await write(*args, _preload_content=False, **kwargs)
    try:
        if response.status != 404 and not 200 <= response.status <= 299:
            error = ApiException(status=response.status, reason=response.reason)
            error.body, error.headers = await response.read(), response.headers
            raise error
    finally:
        response.release()


class Kube:
    """A thin, typed face over the Kubernetes API for what kopf's own handler patches cannot do."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._custom = client.CustomObjectsApi(api)
        self._streams = WsApiClient(configuration=api.configuration)

    @classmethod
    async def connect(cls) -> "Kube":
        """The same credentials kopf uses: in-cluster service account, else the current kubeconfig."""
        try:
            config.load_incluster_config()
        except config.ConfigException:
            await config.load_kube_config()
        return cls(client.ApiClient())

    async def close(self) -> None:
        await self._streams.close()
        await self._api.close()

    async def _patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch a custom object's status subresource; an object deleted meanwhile is not an error."""
        try:
            await self._custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                {"status": status},
                _content_type="application/merge-patch+json",
            )
        except ApiException as error:
            if error.status != 404:
                raise
            logger.debug("%s %s/%s is gone; status not written", plural, namespace, name)

    async def patch_database_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._patch_status(PLURAL, namespace, name, status)

    async def patch_backup_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._patch_status(BACKUP_PLURAL, namespace, name, status)

    async def _read_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await _unless_missing(
            self._custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        )
        return found

    async def read_database_backup(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored DatabaseBackup, or None when it does not exist."""
        return await self._read_custom(BACKUP_PLURAL, namespace, name)

    async def read_cron_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A CronJob as plain JSON (camelCase keys), or None when it does not exist."""
        cron_job = await _unless_missing(client.BatchV1Api(self._api).read_namespaced_cron_job(name, namespace))
        if cron_job is None:
            return None
        plain: dict[str, Any] = self._api.sanitize_for_serialization(cron_job)
        return plain

    async def create_job(self, namespace: str, job: dict[str, Any]) -> None:
        """Create a Job; one that exists already (a retried handler) is not an error."""
        try:
            await client.BatchV1Api(self._api).create_namespaced_job(namespace, job)
        except ApiException as error:
            if error.status != 409:
                raise

    async def delete_jobs(self, namespace: str, label_selector: str) -> None:
        """Delete the Jobs a selector matches, and (in the background) their pods."""
        await client.BatchV1Api(self._api).delete_collection_namespaced_job(
            namespace, label_selector=label_selector, propagation_policy="Background"
        )

    async def termination_messages(self, namespace: str, job: str) -> list[str]:
        """What the containers of a Job's pods wrote to their termination log, newest pod first."""
        pods = await client.CoreV1Api(self._api).list_namespaced_pod(namespace, label_selector=f"job-name={job}")
        ordered = sorted(pods.items, key=lambda pod: pod.metadata.creation_timestamp, reverse=True)
        return [
            status.state.terminated.message
            for pod in ordered
            for status in (pod.status.container_statuses or [])
            if status.state and status.state.terminated and status.state.terminated.message
        ]

    async def read_database(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored Database, or None when it does not exist."""
        return await self._read_custom(PLURAL, namespace, name)

    async def remove_database_annotation(self, namespace: str, name: str, key: str) -> None:
        """Remove an annotation from a Database (a request handled); a Database deleted meanwhile is not an error."""
        await _unless_missing_unread(
            self._custom.patch_namespaced_custom_object,
            GROUP, VERSION, namespace, PLURAL, name, {"metadata": {"annotations": {key: None}}},
            _content_type="application/merge-patch+json",
        )  # fmt: skip

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's decoded values, or None when it does not exist."""
        secret = await _unless_missing(client.CoreV1Api(self._api).read_namespaced_secret(name, namespace))
        if secret is None:
            return None
        return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}

    async def patch_pod_metadata(self, namespace: str, name: str, metadata: dict[str, Any]) -> None:
        """Merge labels and annotations into a pod's; a pod deleted meanwhile is not an error."""
        await _unless_missing_unread(
            client.CoreV1Api(self._api).patch_namespaced_pod,
            name,
            namespace,
            {"metadata": metadata},
            _content_type="application/merge-patch+json",
        )

    async def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod (its StatefulSet makes it again); one already gone is not an error."""
        await _unless_missing_unread(client.CoreV1Api(self._api).delete_namespaced_pod, name, namespace)

    async def delete_config_map(self, namespace: str, name: str) -> None:
        """Delete a ConfigMap; one already gone is not an error."""
        await _unless_missing_unread(client.CoreV1Api(self._api).delete_namespaced_config_map, name, namespace)

    async def exec_in_pod(
        self, namespace: str, pod: str, container: str, command: list[str], timeout: float
    ) -> ExecResult | None:
        """Run a command in a pod's container and wait for it (at most `timeout` seconds); None when it could not
        be run or did not finish (the container is not running, the node does not answer)."""
        api = client.CoreV1Api(self._streams)
        stdout, stderr, exit_code = [], [], None
        try:
            async with asyncio.timeout(timeout):
                connection = await api.connect_get_namespaced_pod_exec(
                    pod, namespace, container=container, command=command,
                    stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False,
                )  # fmt: skip
                async with connection as stream:
                    async for message in stream:
                        if message.type is not aiohttp.WSMsgType.BINARY or len(message.data) < 1:
                            continue
                        channel, data = message.data[0], message.data[1:].decode(errors="replace")
                        if channel == STDOUT_CHANNEL:
                            stdout.append(data)
                        elif channel == STDERR_CHANNEL:
                            stderr.append(data)
                        elif channel == STATUS_CHANNEL and data:
                            exit_code = WsApiClient.parse_error_data(data)
        except (ApiException, aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError) as error:
            logger.info("exec %s in pod %s/%s: %s", command, namespace, pod, error)
            return None
        if exit_code is None:
            return None
        return ExecResult(exit_code, "".join(stdout), "".join(stderr))

    async def pod_metrics(self, namespace: str, pod: str, address: str, port: int) -> str | None:
        """What a pod serves on :port/metrics, asked at its own address (in a cluster the operator reaches pod
        addresses; not through the API server's pod proxy, whose RBAC right reaches every pod of the cluster);
        None when it cannot be had, e.g. from outside the cluster with no route to the pods."""
        url = yarl.URL.build(scheme="http", host=address, port=port, path="/metrics")
        try:
            timeout = aiohttp.ClientTimeout(total=METRICS_TIMEOUT_SECONDS)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, raise_for_status=True) as response,
            ):
                return await response.text()
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            logger.debug("metrics of pod %s/%s at %s: %s", namespace, pod, url, error)
            return None

    async def configure_webhooks(self, kind: str, name: str, webhooks: list[dict[str, Any]]) -> None:
        """Replace the webhooks of the operator's own `kind` ("mutating" or "validating") webhook configuration.
        It is read and patched by name (what RBAC grants the operator); only a missing one is created, which
        needs a right deploy/ does not grant (it creates both at install time)."""
        admission = client.AdmissionregistrationV1Api(self._api)
        read, create, patch = {
            "mutating": (
                admission.read_mutating_webhook_configuration,
                admission.create_mutating_webhook_configuration,
                admission.patch_mutating_webhook_configuration,
            ),
            "validating": (
                admission.read_validating_webhook_configuration,
                admission.create_validating_webhook_configuration,
                admission.patch_validating_webhook_configuration,
            ),
        }[kind]
        if await _unless_missing(read(name)) is None:
            try:
                await create({"metadata": {"name": name}, "webhooks": webhooks})
                return
            except ApiException as error:
                if error.status == 403:
                    raise PermissionError(
                        f"{kind} webhook configuration {name} is missing and the operator may not create it: "
                        "apply deploy/rbac.yaml (or `database-operator rbac`), which creates it"
                    ) from error
                if error.status != 409:  # 409: another operator process created it meanwhile: patch it
                    raise
        await patch(name, {"webhooks": webhooks}, _content_type="application/merge-patch+json")

    async def ensure_peering(self, name: str) -> bool:
        """Create the cluster-wide peering object leader election runs on (leadership.py) unless it exists;
        False if its kind is not served (the CRD in crds/database.yaml is not installed yet)."""
        body = {
            "apiVersion": f"{PEERING_GROUP}/{PEERING_VERSION}",
            "kind": "ClusterKopfPeering",
            "metadata": {"name": name},
        }
        try:
            await self._custom.create_cluster_custom_object(PEERING_GROUP, PEERING_VERSION, PEERING_PLURAL, body)
        except ApiException as error:
            if error.status == 404:
                return False
            if error.status != 409:
                raise
        return True

    async def serves_api_group(self, group: str) -> bool:
        """Whether the cluster serves an API group, e.g. monitoring.coreos.com for ServiceMonitors."""
        groups = await client.ApisApi(self._api).get_api_versions()
        return any(item.name == group for item in groups.groups)

    # -- data safety: ownership, volumes, storage classes -------------------------------------------------

    async def read_metadata(self, api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Any namespaced object's metadata (plain JSON), or None when it does not exist (or its kind is not
        served)."""
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        found: dict[str, Any] | None = await _unless_missing(
            self._api.call_api(
                f"{prefix}/namespaces/{namespace}/{plural}/{name}",
                "GET",
                response_types_map={200: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
        )
        return (found or {}).get("metadata") if found is not None else None

    async def list_metadata(
        self, api_version: str, plural: str, namespace: str | None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        """The metadata alone (PartialObjectMetadataList) of every object of a kind the selector matches, in one
        namespace or (None) the whole cluster: one request, filtered by the API server."""
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        where = f"/namespaces/{namespace}" if namespace is not None else ""
        listed: dict[str, Any] = await self._api.call_api(
            f"{prefix}{where}/{plural}",
            "GET",
            query_params=[("labelSelector", label_selector)] if label_selector else [],
            header_params={"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"},
            response_types_map={200: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )
        return [item.get("metadata") or {} for item in listed.get("items") or []]

    async def list_database_names(self, namespace: str) -> list[str]:
        """Names only: each new Database's admission lists its namespace's, so whole objects (statuses and
        all) would cost every create more the more Databases there are."""
        return [str(metadata["name"]) for metadata in await self.list_metadata(f"{GROUP}/{VERSION}", PLURAL, namespace)]

    async def read_statefulset(self, namespace: str, name: str) -> dict[str, Any] | None:
        statefulset = await _unless_missing(client.AppsV1Api(self._api).read_namespaced_stateful_set(name, namespace))
        plain: dict[str, Any] | None = self._api.sanitize_for_serialization(statefulset) if statefulset else None
        return plain

    async def orphan_statefulset(self, namespace: str, name: str) -> None:
        """Delete a StatefulSet but not its pods (propagation Orphan): they keep running until a StatefulSet
        with the same selector adopts them."""
        await _unless_missing_unread(
            client.AppsV1Api(self._api).delete_namespaced_stateful_set,
            name,
            namespace,
            body=client.V1DeleteOptions(propagation_policy="Orphan"),
        )

    async def list_volume_claims(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        claims = await client.CoreV1Api(self._api).list_namespaced_persistent_volume_claim(
            namespace, label_selector=label_selector
        )
        plain: list[dict[str, Any]] = [self._api.sanitize_for_serialization(claim) for claim in claims.items]
        return plain

    async def read_volume_claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        claim = await _unless_missing(
            client.CoreV1Api(self._api).read_namespaced_persistent_volume_claim(name, namespace)
        )
        plain: dict[str, Any] | None = self._api.sanitize_for_serialization(claim) if claim else None
        return plain

    async def resize_volume_claim(self, namespace: str, name: str, size: str) -> None:
        await client.CoreV1Api(self._api).patch_namespaced_persistent_volume_claim(
            name,
            namespace,
            {"spec": {"resources": {"requests": {"storage": size}}}},
            _content_type="application/merge-patch+json",
        )

    async def delete_volume_claim(self, namespace: str, name: str) -> None:
        await _unless_missing_unread(
            client.CoreV1Api(self._api).delete_namespaced_persistent_volume_claim, name, namespace
        )

    async def storage_class(self, name: str | None) -> dict[str, Any] | None:
        """A StorageClass by name, or the cluster's default class when name is None; None when there is none."""
        storage = client.StorageV1Api(self._api)
        if name is not None:
            found = await _unless_missing(storage.read_storage_class(name))
            plain: dict[str, Any] | None = self._api.sanitize_for_serialization(found) if found else None
            return plain
        classes = await storage.list_storage_class()
        for item in classes.items:
            annotations = item.metadata.annotations or {}
            if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
                default: dict[str, Any] = self._api.sanitize_for_serialization(item)
                return default
        return None
