"""Schemathesis hooks for the contract test (contract_test.py sets the environment they read).

Schemathesis may send any request the document allows, as the admin. These hooks keep its
requests from harming the machine or the run itself, never from testing the hub:
- every request carries the admin's token, minted before the run (it cannot log in itself once
  its own wrong guesses have the login throttle answering 429, as it should);
- a logout revokes a token of its own (from a pool; when the pool is spent, one already revoked,
  which the document answers with 401), so the admin's token lives to the end;
- the admin account is neither changed nor deleted (a new password revokes its tokens);
- folders and files it asks the hub to create land under the test's work folder, and the hosts
  it names are this machine's loopback, where nothing answers (no NFS mount waits for a timeout,
  no vCenter or libvirt host is looked up on a network).
Only values of the type the document asks for are rewritten, so a request meant to be invalid
stays invalid."""
import os
import pathlib
import re

import schemathesis
from hypothesis import strategies as st

TOKEN = os.environ["SENDENSE_CONTRACT_TOKEN"]
ADMIN_ID = int(os.environ["SENDENSE_CONTRACT_ADMIN_ID"])
WORK = pathlib.Path(os.environ["SENDENSE_CONTRACT_WORK"])
LOGOUT_TOKENS = os.environ["SENDENSE_CONTRACT_LOGOUT_TOKENS"].split(",")
REVOKED = LOGOUT_TOKENS[0]


# The document's own string formats (a client generating data needs their grammar, as for any format).
schemathesis.openapi.format("schedule", st.one_of(
    st.sampled_from(["0 2 * * *", "*/15 * * * *", "30 1 * * mon-fri", "0 0 1 * *", "0 3 * jan,jul sun", "5,35 8-18/2 * * *"]),
    # Intervals of 5 minutes to 31 days, as the document says.
    st.builds(lambda count: f"every {count}m", st.integers(5, 600)),
    st.builds(lambda count: f"every {count}h", st.integers(1, 744)),
    st.builds(lambda count: f"every {count}d", st.integers(1, 31))))
schemathesis.openapi.format("time-zone", st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]))


@schemathesis.auth(refresh_interval=None, retry_on=[])
class AdminToken:
    def get(self, case, context):
        return TOKEN

    def set(self, case, data, context):
        token = data
        if case.operation.path == "/auth/logout":
            token = LOGOUT_TOKENS.pop() if len(LOGOUT_TOKENS) > 1 else REVOKED
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {token}"


def _is(case, method, path):
    return case.operation.method.upper() == method and case.operation.path == path


@schemathesis.hook
def filter_case(context, case):
    if case.operation.path == "/users/{id}" and case.operation.method.upper() in ("PUT", "DELETE"):
        try:
            return int(str((case.path_parameters or {}).get("id")).strip()) != ADMIN_ID
        except ValueError:
            return True
    return True


# The document's Host pattern: only a value it accepts is pointed at loopback. An invalid one
# (a negative case) must stay invalid, or the case would expect a refusal of a valid request.
HOST = re.compile(r"^[A-Za-z0-9.:\[\]][A-Za-z0-9.:\[\]-]{0,252}$")


def _valid_host(value):
    return isinstance(value, str) and HOST.fullmatch(value) is not None


def _inside_work(folder, value):
    """A path under WORK/folder named after `value` (its safe characters), so names still differ."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", value.strip("/"))[:64].strip(".") or "root"
    return str(WORK / folder / name)


@schemathesis.hook
def map_case(context, case):
    body = case.body
    if not isinstance(body, dict):
        return case
    if _is(case, "POST", "/repositories"):
        if isinstance(body.get("path"), str) and body["path"].startswith("/"):
            body["path"] = _inside_work("repositories", body["path"])
        if _valid_host(body.get("nfs_server")):
            body["nfs_server"] = "127.0.0.1"
        if isinstance(body.get("cifs_share"), str) and body["cifs_share"].startswith("//"):
            body["cifs_share"] = "//127.0.0.1/" + re.sub(r"[^A-Za-z0-9]", "", body["cifs_share"])[:32]
    elif _is(case, "POST", "/restore/disk"):
        target = body.get("target")
        if isinstance(target, dict) and isinstance(target.get("path"), str) and target["path"].startswith("/"):
            target["path"] = _inside_work("restores", target["path"])
    elif case.operation.path.startswith("/vmware-credentials") and case.operation.method.upper() in ("POST", "PUT"):
        if _valid_host(body.get("vcenter_host")):
            body["vcenter_host"] = "127.0.0.1"
            port = body.get("vcenter_port", 9)
            if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
                body["vcenter_port"] = 9
    elif case.operation.path.startswith("/discovery/libvirt/"):
        uri = body.get("uri")
        if isinstance(uri, str) and uri.startswith("qemu+ssh://"):
            body["uri"] = "qemu+ssh://127.0.0.1:9/system"
    return case
