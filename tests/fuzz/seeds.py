#!/usr/bin/python3
"""Seed corpora that are not captured traffic (capture.py makes those): the shipped
configuration and registry, the filter expressions the integration tests send, the guest
values the guest-metrics tests write, and xenstore requests as libxenstore frames them
(the cases tests/unit/test_xenstored.c makes by hand).  Seeds are named by their sha1;
running this again adds only what is new."""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def save(harness, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def shipped(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return f.read()


# ---- get_all_records_where (tests/integration/test_generic.py, test_errors.py) ----
UUID = "3f1b8c2e-5d7a-4e0b-9c61-2a4f8e9d0b13"
for e in ['true', 'false', 'field "uuid" = "%s"' % UUID, 'not (field "uuid" = "%s")' % UUID,
          'field "uuid" <> "%s"' % UUID, 'field "uuid" = "%s" and false' % UUID,
          'false or field "uuid" = "%s"' % UUID, '"a" = "a"', 'field "name__label" = "where \\"me\\""',
          'field "is_a_template" = "true" and field "VCPUs_max" = "3" and (field "name__label" = "nope" '
          'or not (field "power_state" <> "Halted"))', 'field "name_description" = "op 1"',
          'field "other_config" = ""', 'field "tags" = "[]"', 'field "no_such_field" = "x"',
          # the refused ones
          'field "uuid" =', 'field uuid = "x"', '(true', 'true true', 'field "uuid" ~ "x"', '"x',
          'field "name__label" ==',
          # deep nesting: before FILTER_MAX_DEPTH, a few MB of these overflowed the stack
          "not " * 300 + "true", "(" * 300 + "true" + ")" * 300, "not (" * 150 + "true" + ")" * 150]:
    save("filter", e)

# ---- the configuration file ----
save("config", shipped("etc/xenapid.conf"))
save("config", "# as tests/integration/harness.py starts daemons\n"
     "db-path = /tmp/xa/xenapid.db\nauth-file = /tmp/xa/passwd\nlisten-address = 127.0.0.1\n"
     "listen-port = 0\nlogin-failure-delay = 0.05\nlog-level = debug\n"
     "virtual-hardware-platform-versions = \"0,1\"\nguest-metrics-interval = 0.2\n")
save("config", "unix-socket = ''\nlisten-port = \"  8080 \"\nno-such-key = 1\n")
save("config", "missing the equals sign\n")

# ---- the platform registry: the offered versions, a newline, the registry ----
reg = shipped("etc/platform.xml")
save("platform", b"0,1\n" + reg)
save("platform", b"0\n" + reg)
# xapi's numbering, as the registry's comment describes
v2 = reg.replace(b'requires="1"', b'requires="2"').replace(
    b"\n  <feature name=\"vendor-device\" requires",
    b'\n  <version number="2" doc="xapi\'s vendor device">\n'
    b'    <device name="xen-pvdevice" id="0xc000"/>\n'
    b'    <feature name="vendor-device" supported="yes"/>\n  </version>\n'
    b'  <feature name="vendor-device" requires', 1)
save("platform", b"0,1,2\n" + v2)
save("platform", b"0, 1 ,1\n<platform-registry><version number=\"0\"/><version number=\"1\"/>"
     b"<feature name=\"vendor-device\" requires=\"1\"/></platform-registry>")
save("platform", b"7\n<platform-registry><version number=\"0\"/></platform-registry>")

# ---- guest values (tests/integration/test_guest_metrics.py, test_guest_abuse.py) ----
KEYS = ["attr/PVAddons/MajorVersion", "attr/PVAddons/MinorVersion", "attr/PVAddons/MicroVersion",
        "attr/PVAddons/BuildVersion", "attr/PVAddons/Installed", "attr/PVAddons/NotUpgradable",
        "data/os_name", "data/os_uname", "data/os_distro", "data/os_majorver", "data/os_minorver"]


def guest(values):
    mask, out = 0, b""
    for i, k in enumerate(KEYS):
        if k in values:
            v = values[k]
            mask |= 1 << i
            out += (v.encode() if isinstance(v, str) else v) + b"\0"
    return struct.pack("<H", mask) + out


OS = {"data/os_name": "Debian GNU/Linux 12 (bookworm)", "data/os_uname": "6.1.0-18-test-amd64",
      "data/os_distro": "debian", "data/os_majorver": "12", "data/os_minorver": "5"}


def tools(v, **more):
    d = dict(zip(KEYS[:4], v.split("."))) | {"attr/PVAddons/Installed": "1"} | OS
    d.update({("attr/PVAddons/" + k): x for k, x in more.items()})
    return d


for v in ("1.0.0.0", "0.9.1.2", "1.0.0.1", "0.9.0.0", "7.0.0.0"):
    save("guest", guest(tools(v)))
save("guest", guest(tools("0.5.0.0", NotUpgradable="1")))
save("guest", guest({}))
save("guest", guest(OS))
PV = "attr/PVAddons/"
save("guest", guest({PV + "MajorVersion": "abc", PV + "MinorVersion": "-1", PV + "MicroVersion": "1e9",
                     PV + "BuildVersion": "0x10", PV + "Installed": "yes", PV + "NotUpgradable": "maybe",
                     "data/os_name": b"\x1b[2J\x07evil\r\nname\x7f", "data/os_uname": b"\xff\xfe\xfd",
                     "data/os_distro": b"", "data/os_majorver": b"\xc3", "data/os_minorver": "\t"}))
save("guest", guest({k: "A" * 300 for k in KEYS}))
save("guest", guest({"data/os_name": "x" + "\u00e9" * 999, PV + "MajorVersion": " 1 ", PV + "MinorVersion": "999999999"}))
save("guest", guest({PV + "MajorVersion": "4", PV + "MinorVersion": "3", PV + "MicroVersion": "2",
                     PV + "BuildVersion": "7", PV + "Installed": "1", "data/os_name": "Final",
                     "data/os_uname": "u", "data/os_distro": "d", "data/os_majorver": "4",
                     "data/os_minorver": "2"}))

# ---- xenstore requests as libxenstore frames them ----
XS = dict(CONTROL=0, DIRECTORY=1, READ=2, GET_PERMS=3, WATCH=4, UNWATCH=5, TRANSACTION_START=6,
          TRANSACTION_END=7, INTRODUCE=8, RELEASE=9, GET_DOMAIN_PATH=10, WRITE=11, MKDIR=12, RM=13,
          SET_PERMS=14, WATCH_EVENT=15, ERROR=16, IS_DOMAIN_INTRODUCED=17, RESUME=18, SET_TARGET=19,
          RESET_WATCHES=21, DIRECTORY_PART=22)


def msg(t, payload, req=0, tx=0):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack("<IIII", XS[t] if isinstance(t, str) else t, req, tx, len(payload)) + payload


def s(*parts):
    return b"".join(p.encode() + b"\0" for p in parts)


tree = (msg("MKDIR", s("/a/b")) + msg("WRITE", b"/a/b/c\0value") + msg("READ", s("/a/b/c")) +
        msg("DIRECTORY", s("/a")) + msg("DIRECTORY_PART", s("/a", "0")) + msg("GET_PERMS", s("/a/b")) +
        msg("SET_PERMS", s("/a/b", "n0", "r1", "w2", "b3")) + msg("RM", s("/a")))
save("xenstored", b"\x00" + tree)
txn = (msg("TRANSACTION_START", s("")) + msg("WRITE", b"/t/x\0in txn", tx=1) + msg("READ", s("/t/x"), tx=1) +
       msg("TRANSACTION_END", s("T"), tx=1) + msg("TRANSACTION_START", s("")) +
       msg("RM", s("/t"), tx=2) + msg("TRANSACTION_END", s("F"), tx=2))
save("xenstored", b"\x00" + txn)
watches = (msg("WATCH", s("/w", "tok")) + msg("WATCH", s("@introduceDomain", "i")) +
           msg("WATCH", s("@releaseDomain", "r")) + msg("WRITE", b"/w/x\0v") + msg("RM", s("/w")) +
           msg("UNWATCH", s("/w", "tok")) + msg("RESET_WATCHES", b""))
save("xenstored", b"\x00" + watches)
domains = (msg("GET_DOMAIN_PATH", s("1")) + msg("IS_DOMAIN_INTRODUCED", s("1")) +
           msg("MKDIR", s("/local/domain/2")) + msg("INTRODUCE", s("2", "4098", "7")) +
           msg("SET_TARGET", s("2", "1")) + msg("RESUME", s("2")) + msg("RELEASE", s("2")) +
           msg("CONTROL", s("log", "on")))
save("xenstored", b"\x00" + domains)
malformed = (msg(999, s("x"), req=7) + msg("WATCH_EVENT", s("x"), req=8) + msg("READ", b"/m", req=9) +
             msg("READ", b"/m\0/x\0", req=10) + msg("TRANSACTION_END", s("T"), req=11))
save("xenstored", b"\x00" + malformed)
save("xenstored", b"\x00" + struct.pack("<IIII", XS["READ"], 0, 0, 100000))
save("xenstored", b"\x00" + b"\xff" * 64)
# a guest: relative paths under its home, what it may and may not touch
agent = (msg("WRITE", b"attr/PVAddons/MajorVersion\x001") + msg("WRITE", b"data/os_name\0Debian") +
         msg("WRITE", b"data/updated\0now") + msg("READ", s("/local/domain/0/name")) +
         msg("WRITE", b"/local/domain/0/x\0no") + msg("WATCH", s("control/shutdown", "t")) +
         msg("TRANSACTION_START", s("")) + msg("WRITE", b"data/x\0y", tx=1) +
         msg("TRANSACTION_END", s("T"), tx=1) + msg("INTRODUCE", s("3", "1", "1")))
save("xenstored", b"\x01" + agent)
# both: dom0 watches what the guest writes, then the guest dies
both = (msg("WATCH", s("/local/domain/1/data/updated", "u")) + msg("WRITE", b"data/updated\x001") +
        msg("WATCH", s("@releaseDomain", "r")) + msg("WATCH", s("data", "d")) +
        msg("WRITE", b"/local/domain/1/data/updated\x002") + msg("WRITE", b"data/z\x003"))
save("xenstored", b"\x06" + both)
print("seeds written under", CORPUS)

# ---- JSON-RPC: the captured XML-RPC calls, as a JSON-RPC client sends them ----
import json  # noqa: E402
import xmlrpc.client  # noqa: E402


def plain(v):
    if isinstance(v, xmlrpc.client.DateTime):
        return v.value
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


xml_dir = os.path.join(CORPUS, "xmlrpc")
methods = set()
for name in sorted(os.listdir(xml_dir)) if os.path.isdir(xml_dir) else []:
    with open(os.path.join(xml_dir, name), "rb") as f:
        body = f.read()
    try:
        params, method = xmlrpc.client.loads(body)
    except Exception:
        continue
    if not method or method in methods or len(methods) >= 60:
        continue
    methods.add(method)
    n = len(methods)
    call = {"method": method, "params": plain(list(params)), "id": n}
    if n % 2:
        call["jsonrpc"] = "2.0"
    save("json", json.dumps(call))

# ---- xenstore: more than the server's input buffer at once (IN_BUF, 8 KiB) ----
big = msg("READ", s("/a")) * 150 + msg("WRITE", b"/big\0" + b"v" * 3995) * 2 + msg("READ", s("/big")) * 100
save("xenstored", b"\x00" + big)

# ---- HTTP: what else clients send (the captured requests are capture.py's) ----
CALL = (b"<?xml version='1.0'?><methodCall><methodName>session.login_with_password</methodName>"
        b"<params><param><value>root</value></param><param><value>x</value></param></params></methodCall>")
JCALL = b'{"jsonrpc":"2.0","method":"session.login_with_password","params":["root","x"],"id":1}'


def post(path, body, extra=b"", version=b"1.1"):
    return (b"POST " + path + b" HTTP/" + version + b"\r\nHost: localhost\r\nContent-Type: text/xml\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


save("http", b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
save("http", b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n")
save("http", post(b"/RPC2", CALL) + post(b"/jsonrpc", JCALL))   # pipelined
save("http", post(b"/", CALL, b"Connection: close\r\n", b"1.0"))
save("http", post(b"/jsonrpc", JCALL, b"Expect: 100-continue\r\n"))
save("http", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" +
     b"%x\r\n" % len(CALL) + CALL + b"\r\n0\r\n\r\n")
save("http", b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999\r\n\r\n" + CALL)
save("http", b"POST / HTTP/1.1\r\nContent-Length: 10\r\nContent-Length: 4\r\n\r\n" + CALL[:10])
save("http", b"POST /nowhere HTTP/1.1\r\nHost: localhost\r\n" + b"X-Long: " + b"a" * 4000 + b"\r\n\r\n")

# ---- what a pool peer answers (fuzz_peer): a mode byte (bit 0 JSON-RPC, 1 raw, 2 a
# read, 3 two calls), then the HTTP response, as src/rpc/protocol.c writes them ----
XOK = (b'<?xml version="1.0"?>\n<methodResponse><params><param><value><struct>'
       b'<member><name>Status</name><value>Success</value></member><member><name>Value</name>'
       b'<value><struct><member><name>name_label</name><value>vm</value></member>'
       b'<member><name>VCPUs_max</name><value>2</value></member></struct></value>'
       b'</member></struct></value></param></params></methodResponse>\n')
XFAIL = (b'<?xml version="1.0"?>\n<methodResponse><params><param><value><struct>'
         b'<member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name>'
         b'<value><array><data><value>HANDLE_INVALID</value><value>VM</value><value>OpaqueRef:x</value>'
         b'</data></array></value></member></struct></value></param></params></methodResponse>\n')
JOK = b'{"jsonrpc":"2.0","result":{"name_label":"vm","VCPUs_max":"2","tags":[]},"id":1}'
JFAIL = (b'{"jsonrpc":"2.0","error":{"code":1,"message":"SESSION_INVALID","data":["OpaqueRef:s"]},'
         b'"id":1}')


def answer(body, extra=b"", status=b"200 OK"):
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: text/xml\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def chunked(body, size=40):
    parts = [b"%x\r\n" % len(body[i:i + size]) + body[i:i + size] + b"\r\n" for i in range(0, len(body), size)]
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(parts) + b"0\r\n\r\n"


for mode in range(16):
    json = mode & 1
    ok, fail = (JOK, JFAIL) if json else (XOK, XFAIL)
    save("peer", bytes([mode]) + answer(ok))
    if mode < 8:
        save("peer", bytes([mode]) + answer(fail))
        save("peer", bytes([mode]) + chunked(ok))
        save("peer", bytes([mode]) + answer(ok, b"Connection: close\r\n"))
save("peer", b"\x05" + answer(JOK)[:60])                        # the peer died mid-answer
save("peer", b"\x04" + answer(b"no", status=b"503 Service Unavailable"))
save("peer", b"\x01" + answer(b'{"jsonrpc":"2.0","id":1}'))      # neither result nor error
save("peer", b"\x00" + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab\r\n0\r\n\r\n")
save("peer", b"\x0d" + answer(JOK) + answer(JFAIL))             # more than one answer
