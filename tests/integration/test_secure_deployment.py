"""Issue 16's "done when", as one deployment: a ``plait server --auth`` over TLS, a worker and
clients with per-namespace keys and an encryption codec. Each key does exactly its role in its
namespace, nothing else; and the database holds neither a payload nor a raw key."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from plait import Worker, activity, workflow
from plait.client import Client
from plait.codec import AESGCMCodec
from plait.errors import PermissionDeniedError, UnauthenticatedError
from tests.certs import make_authority
from tests.integration.cli_process import plait
from tests.integration.test_tls import tls_server

pytestmark = pytest.mark.timeout(120)

KEY = bytes(range(7, 39))


@activity.defn
async def file_registration(ein: str) -> str:
    return f"registered {ein}"


@workflow.defn
class Registration:
    @workflow.run
    async def run(self, ein: str) -> str:
        return await workflow.execute_activity(
            file_registration, ein, start_to_close_timeout=timedelta(seconds=10))


@dataclass
class Deployment:
    address: str
    folder: Path
    tls: ssl.SSLContext
    keys: dict[str, str]
    """By name: ``admin`` (every namespace), then ``<namespace>-<role>``."""

    async def client(self, key: str | None, namespace: str = "billing",
                     codec: bool = True) -> Client:
        return await Client.connect(
            self.address, namespace=namespace, tls=self.tls,
            api_key=self.keys[key] if key else None, retry_timeout=timedelta(seconds=5),
            codec=AESGCMCodec(keys={"k1": KEY}, current="k1") if codec else None)


def _ok(*args: str, address: str | None = None, env: dict[str, str] | None = None) -> str:
    """``plait ARGS``, which must succeed; its last line of output."""
    done = plait(*args, address=address, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The first admin key made on the database directly, the server started, then the
    namespaces and their keys made through the API by that admin, over TLS, as an operator
    would with the CLI."""
    folder = tmp_path_factory.mktemp("secure")
    ca = make_authority(folder, "ca")
    cert = ca.issue("server", server=True)
    db = f"sqlite:///{folder / 'plait.db'}"
    keys = {"admin": _ok("apikey", "create", "--db", db, "--namespace", "*", "--role",
                         "admin", "--name", "first admin")}
    with tls_server(folder, "--auth", "--tls-cert", str(cert.cert),
                    "--tls-key", str(cert.key)) as address:
        env = {"PLAIT_API_KEY": keys["admin"], "PLAIT_TLS_CA": str(ca.cert)}
        for namespace in ("billing", "hr"):
            _ok("namespace", "create", namespace, "--retention", "7d", address=address,
                env=env)
            for role in ("reader", "writer", "worker"):
                keys[f"{namespace}-{role}"] = _ok(
                    "apikey", "create", "--namespace", namespace, "--role", role,
                    "--name", f"{namespace} {role}", address=address, env=env)
        yield Deployment(address, folder, ssl.create_default_context(cafile=str(ca.cert)),
                         keys)


async def test_each_key_does_its_role_in_its_namespace_and_the_store_reads_nothing(
    deployment: Deployment,
) -> None:
    ein = f"EIN-{uuid.uuid4().hex}"
    writer = await deployment.client("billing-writer")
    worker_client = await deployment.client("billing-worker")
    reader = await deployment.client("billing-reader")
    others = await deployment.client("hr-writer")  # a writer, of another namespace
    nobody = await deployment.client(None)
    try:
        async with Worker(worker_client, task_queue="reg", workflows=[Registration],
                          activities=[file_registration]):
            assert await writer.execute_workflow(Registration.run, ein, id="reg-1",
                                                 task_queue="reg") == f"registered {ein}"
        # The reader reads (and decodes, holding the codec), but may not act.
        assert await reader.get_workflow_handle("reg-1").result() == f"registered {ein}"
        assert await reader.count_workflows() == 1
        with pytest.raises(PermissionDeniedError):
            await reader.start_workflow(Registration.run, ein, id="reg-2", task_queue="reg")
        # A worker key polls and completes, but does not start workflows.
        with pytest.raises(PermissionDeniedError):
            await worker_client.start_workflow(Registration.run, ein, id="reg-3",
                                               task_queue="reg")
        # Another namespace's writer learns nothing, not even whether the id exists.
        for wid in ("reg-1", "never-was"):
            with pytest.raises(PermissionDeniedError):
                await others.get_workflow_handle(wid).describe()
        with pytest.raises(UnauthenticatedError):
            await nobody.count_workflows()
        assert await writer.count_workflows() == 1  # the refused calls changed nothing
    finally:
        for c in (writer, worker_client, reader, others, nobody):
            await c.close()
    stored = b"".join(p.read_bytes() for p in deployment.folder.glob("plait.db*"))
    assert stored  # the check below can fail: the store is there and holds the run
    assert b"reg-1" in stored
    assert ein.encode() not in stored
    for key in deployment.keys.values():
        secret = key.split(".", 1)[1]
        assert secret.encode() not in stored and key.encode() not in stored
