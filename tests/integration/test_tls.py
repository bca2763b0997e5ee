"""TLS and mutual TLS with a real ``plait server`` process and certificates made for the test
(API.md "Namespaces, API keys, TLS"): a workflow runs end to end over https with a worker, the
CLI works with ``--tls-ca``, a certificate from the wrong CA fails at once with a clear error,
and mutual TLS refuses a client without a certificate its client CA signed."""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from plait import Worker, activity, workflow
from plait.client import Client
from plait.errors import PlaitError, RPCError
from tests.certs import Authority, Issued, make_authority
from tests.integration.cli_process import one_line_error, plait, plait_command, stop

pytestmark = pytest.mark.timeout(120)


@dataclass
class Pki:
    ca: Authority
    """Signed the server's certificate."""
    server: Issued
    client_ca: Authority
    """Signs the clients a mutual-TLS server admits."""
    client: Issued
    stranger: Authority
    """Signed nothing the server knows."""
    stranger_client: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_authority(folder, "test-ca")
    client_ca = make_authority(folder, "client-ca")
    stranger = make_authority(folder, "stranger-ca")
    return Pki(
        ca,
        ca.issue("server", server=True),
        client_ca,
        client_ca.issue("worker-1", server=False),
        stranger,
        stranger.issue("intruder", server=False),
    )


@contextlib.contextmanager
def tls_server(tmp: Path, *args: str) -> Iterator[str]:
    """``plait server --port 0 ARGS`` in its own process; its address."""
    log = tmp / "server.log"
    proc = subprocess.Popen(
        [*plait_command(), "server", "--db", f"sqlite:///{tmp / 'plait.db'}", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert "plait server on " in line, log.read_text()
        yield line.split("plait server on ", 1)[1].split()[0]
    finally:
        stop(proc)


def context(ca: Path, client: Issued | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        ctx.load_cert_chain(str(client.cert), str(client.key))
    return ctx


@activity.defn
async def seal(text: str) -> str:
    return f"sealed:{text}"


@workflow.defn
class Envelope:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            seal, text, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_a_workflow_runs_over_https_with_a_worker(pki: Pki, tmp_path: Path) -> None:
    with tls_server(
        tmp_path, "--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key)
    ) as address:
        assert address.startswith("https://127.0.0.1:")
        client = await Client.connect(address, tls=context(pki.ca.cert))
        try:
            async with Worker(client, task_queue="tls", workflows=[Envelope], activities=[seal]):
                result = await client.execute_workflow(
                    Envelope.run, "x", id="tls-1", task_queue="tls"
                )
            assert result == "sealed:x"
        finally:
            await client.close()
        # the system's trust store does not know the test CA: refused at once, not retried
        untrusting = await Client.connect(address, retry_timeout=timedelta(seconds=30))
        started = time.monotonic()
        with pytest.raises(RPCError) as refused:
            await untrusting.count_workflows()
        assert time.monotonic() - started < 10
        assert refused.value.code == "tls_failed"
        assert "certificate verify failed" in str(refused.value)
        await untrusting.close()
        # plain HTTP to the TLS port gets no answer a client could take for the API's
        with pytest.raises(PlaitError):
            plain = await Client.connect(
                address.replace("https", "http"), retry_timeout=timedelta(seconds=1)
            )
            try:
                await plain.count_workflows()
            finally:
                await plain.close()


async def test_mutual_tls_refuses_a_client_without_a_certificate_from_its_ca(
    pki: Pki, tmp_path: Path
) -> None:
    with tls_server(
        tmp_path,
        "--tls-cert",
        str(pki.server.cert),
        "--tls-key",
        str(pki.server.key),
        "--tls-client-ca",
        str(pki.client_ca.cert),
    ) as address:
        for who in (None, pki.stranger_client):
            client = await Client.connect(
                address, tls=context(pki.ca.cert, who), retry_timeout=timedelta(seconds=30)
            )
            started = time.monotonic()
            with pytest.raises(RPCError) as refused:
                await client.count_workflows()
            assert refused.value.code == "tls_failed", refused.value
            assert time.monotonic() - started < 10
            await client.close()
        admitted = await Client.connect(address, tls=context(pki.ca.cert, pki.client))
        try:
            async with Worker(admitted, task_queue="mtls", workflows=[Envelope], activities=[seal]):
                assert (
                    await admitted.execute_workflow(
                        Envelope.run, "m", id="mtls-1", task_queue="mtls"
                    )
                    == "sealed:m"
                )
        finally:
            await admitted.close()
        # the CLI presents its certificate with --tls-cert/--tls-key
        cli = plait(
            "--tls-ca",
            str(pki.ca.cert),
            "--tls-cert",
            str(pki.client.cert),
            "--tls-key",
            str(pki.client.key),
            "workflow",
            "count",
            address=address,
        )
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.strip() == "1"
        line = one_line_error(
            plait("--tls-ca", str(pki.ca.cert), "workflow", "count", address=address)
        )
        assert "TLS" in line, line


async def test_the_cli_over_https(pki: Pki, tmp_path: Path) -> None:
    with tls_server(
        tmp_path, "--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key)
    ) as address:
        started = plait(
            "--tls-ca",
            str(pki.ca.cert),
            "workflow",
            "start",
            "Envelope",
            "--id",
            "cli-1",
            "--task-queue",
            "q",
            "-i",
            '"a"',
            address=address,
        )
        assert started.returncode == 0, started.stderr
        # the environment variable does the same; an address without a scheme means https
        listed = plait(
            "workflow",
            "list",
            "--output",
            "json",
            address=address.removeprefix("https://"),
            env={"PLAIT_TLS_CA": str(pki.ca.cert)},
        )
        assert listed.returncode == 0, listed.stderr
        assert '"cli-1"' in listed.stdout
        # no CA, the wrong CA: one line naming the failed verification, at once
        for args in ((), ("--tls-ca", str(pki.stranger.cert))):
            began = time.monotonic()
            line = one_line_error(plait(*args, "workflow", "count", address=address))
            assert "certificate verify failed" in line, line
            assert time.monotonic() - began < 10
        # a CA with an http:// address, and files that are not there or not PEM
        line = one_line_error(
            plait(
                "--tls-ca",
                str(pki.ca.cert),
                "workflow",
                "count",
                address=address.replace("https://", "http://"),
            )
        )
        assert "http://" in line and "https://" in line, line
        line = one_line_error(
            plait("--tls-ca", str(tmp_path / "absent.pem"), "workflow", "count", address=address)
        )
        assert "absent.pem" in line, line
        (tmp_path / "junk.pem").write_text("not a certificate\n")
        line = one_line_error(
            plait("--tls-ca", str(tmp_path / "junk.pem"), "workflow", "count", address=address)
        )
        assert "junk.pem" in line, line


def test_bad_server_files_are_one_line_and_create_nothing(pki: Pki, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nbm90\n-----END CERTIFICATE-----\n")
    other = pki.stranger.issue("other-server", server=True)
    cases: list[tuple[list[str], str]] = [
        (
            ["--tls-cert", str(tmp_path / "absent.pem"), "--tls-key", str(pki.server.key)],
            "absent.pem",
        ),
        (["--tls-cert", str(junk), "--tls-key", str(pki.server.key)], "junk.pem"),
        (["--tls-cert", str(pki.server.cert), "--tls-key", str(other.key)], "--tls-key"),
        (
            [
                "--tls-cert",
                str(pki.server.cert),
                "--tls-key",
                str(pki.server.key),
                "--tls-client-ca",
                str(junk),
            ],
            "--tls-client-ca",
        ),
        (["--tls-cert", str(pki.server.cert)], "--tls-key"),
        (["--tls-client-ca", str(pki.client_ca.cert)], "--tls-cert"),
    ]
    db = tmp_path / "never.db"
    for args, named in cases:
        line = one_line_error(plait("server", "--db", f"sqlite:///{db}", "--port", "0", *args))
        assert named in line, (args, line)
    assert not db.exists()


def test_tls_is_not_authentication_a_reachable_server_still_needs_auth(
    pki: Pki, tmp_path: Path
) -> None:
    line = one_line_error(
        plait(
            "server",
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--tls-cert",
            str(pki.server.cert),
            "--tls-key",
            str(pki.server.key),
        )
    )
    assert "--auth" in line and "--insecure" in line, line


async def test_tls_settings_that_contradict_the_address_are_refused_at_connect(pki: Pki) -> None:
    for address, tls in (
        ("http://127.0.0.1:7233", True),
        ("http://127.0.0.1:7233", context(pki.ca.cert)),
        ("https://127.0.0.1:7233", False),
    ):
        with pytest.raises(PlaitError) as refused:
            await Client.connect(address, tls=tls)
        assert "http" in str(refused.value)
    with pytest.raises(PlaitError, match="tls= takes"):
        await Client.connect("https://127.0.0.1:7233", tls="yes")  # type: ignore[arg-type]
    client = await Client.connect("127.0.0.1:7233", tls=True)
    assert client.address == "https://127.0.0.1:7233"
    await client.close()
    plain = await Client.connect("127.0.0.1:7233")
    assert plain.address == "http://127.0.0.1:7233"
    await plain.close()


async def test_the_environment_variables_apply_where_an_address_could_mean_tls(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAIT_TLS_CA", str(pki.ca.cert))
    with tls_server(
        tmp_path, "--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key)
    ) as address:
        client = await Client.connect(address.removeprefix("https://"))
        assert client.address == address
        assert await client.count_workflows() == 0  # verified against PLAIT_TLS_CA
        await client.close()
    # an explicit http:// address (a test's local server) is left alone
    plain = await Client.connect("http://127.0.0.1:7233")
    assert plain.address == "http://127.0.0.1:7233"
    await plain.close()
    monkeypatch.setenv("PLAIT_TLS_CA", str(tmp_path / "absent.pem"))
    with pytest.raises(PlaitError, match=r"absent\.pem"):
        await Client.connect("https://127.0.0.1:7233")


async def test_tls_spoken_to_a_plain_http_server_fails_at_once(pki: Pki) -> None:
    from plait.testing import WorkflowEnvironment

    async with WorkflowEnvironment.start_local() as env:
        client = await Client.connect(
            env.address.replace("http://", "https://"),
            tls=context(pki.ca.cert),
            retry_timeout=timedelta(seconds=30),
        )
        started = time.monotonic()
        with pytest.raises(RPCError) as refused:
            await client.count_workflows()
        assert refused.value.code == "tls_failed", refused.value
        assert "does not speak TLS" in str(refused.value)
        assert time.monotonic() - started < 10
        await client.close()
