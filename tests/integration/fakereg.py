# A fake registry for the tests, for what a real one will not do. It serves
# DIR/manifests/<ref> and DIR/blobs/<hex>, and takes uploads into them.
#   python3 fakereg.py PORT DIR MODE
# Modes:
#   plain   a well-behaved registry
#   die     a blob larger than 64kB is cut in half and the server exits
#   flaky   the first GET of a blob larger than 64kB is cut in half (the connection
#           closed); later GETs honour Range with a 206
#   upload  the second PATCH of an upload keeps only half its body and drops the
#           connection; GET of the upload says what it kept (Range: 0-N)
#   upload-cancel  the same PATCH drops the connection and the whole session, as
#           distribution does (GET of the upload: 404); an empty session's Range is
#           "0-0", as distribution says it
#   bearer  401 + Bearer challenge; tokens from /token, which wants user:pass when
#           DIR/htpasswd-plain exists; blobs redirect to 127.0.0.2, which refuses
#           any Authorization header
#   bearer-expire  as bearer, but a token is good for three requests (as a token
#           that expires during a long pull)
#   referrers  the distribution spec's referrers API: a manifest PUT with a subject
#           is answered with OCI-Subject, and GET /v2/NAME/referrers/DIGEST lists
#           the manifests pushed with that subject (filtered by ?artifactType=)
# Every request is logged to stdout as "METHOD PATH [Range: …] [Content-Range: …]".
import base64, hashlib, http.server, json, os, sys, threading, urllib.parse, uuid

port, root, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
TOKEN = "tok-" + os.urandom(8).hex()
BEARER = mode.startswith("bearer")
uses = {}  # bearer-expire: token -> requests left
store_port = None
cut = set()  # blobs already cut once (flaky)
uploads = {}  # upload id -> bytearray
patches = [0]
lock = threading.Lock()
referrers = {}  # referrers: subject digest -> descriptors of manifests about it


def err(code, msg):
    return json.dumps({"errors": [{"code": code, "message": msg}]}).encode()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def log(self):
        line = "%s %s" % (self.command, self.path)
        for h in ("Range", "Content-Range"):
            if self.headers.get(h):
                line += " %s: %s" % (h, self.headers.get(h))
        print(line, flush=True)

    def send(self, code, body=b"", ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_HEAD(self):
        self.do_GET()

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        if not BEARER:
            return True
        if mode == "bearer" and auth == "Bearer " + TOKEN:
            return True
        with lock:
            left = uses.get(auth[7:], 0)
            if mode == "bearer-expire" and left > 0:
                uses[auth[7:]] = left - 1
                return True
        chal = 'Bearer realm="http://127.0.0.1:%d/token",service="fake"' % port
        self.send(401, err("UNAUTHORIZED", "token required"), extra=[("WWW-Authenticate", chal)])
        return False

    def do_GET(self):
        self.log()
        p = self.path.split("?")[0]
        if p.startswith("/storage/"):
            if self.headers.get("Authorization"):
                return self.send(400, err("LEAK", "Authorization sent to storage"))
            return self.blob(p[len("/storage/"):])
        if p == "/token":
            cred = os.path.join(root, "htpasswd-plain")
            if os.path.exists(cred):
                want = "Basic " + base64.b64encode(open(cred).read().strip().encode()).decode()
                if self.headers.get("Authorization") != want:
                    return self.send(401, err("UNAUTHORIZED", "bad credentials"))
            if mode == "bearer-expire":
                tok = "tok-" + os.urandom(8).hex()
                with lock:
                    uses[tok] = 3
                return self.send(200, json.dumps({"token": tok}).encode())
            return self.send(200, json.dumps({"token": TOKEN}).encode())
        if not self.authorized():
            return
        if p == "/v2/":
            return self.send(200, b"{}")
        parts = p.split("/")
        if "uploads" in parts:
            with lock:
                data = uploads.get(parts[-1])
            if data is None:
                return self.send(404, err("BLOB_UPLOAD_UNKNOWN", "unknown upload"))
            extra = [("Location", p), ("Docker-Upload-UUID", parts[-1])]
            if data:
                extra.append(("Range", "0-%d" % (len(data) - 1)))
            elif mode == "upload-cancel":
                extra.append(("Range", "0-0"))
            return self.send(204, extra=extra)
        if mode == "referrers" and len(parts) >= 5 and parts[-2] == "referrers":
            want = dict(urllib.parse.parse_qsl(self.path.partition("?")[2]))
            with lock:
                found = [d for d in referrers.get(parts[-1], [])
                         if "artifactType" not in want or d.get("artifactType") == want["artifactType"]]
            index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                     "manifests": found}
            return self.send(200, json.dumps(index).encode(), "application/vnd.oci.image.index.v1+json")
        if len(parts) >= 5 and parts[-2] == "manifests":
            f = os.path.join(root, "manifests", parts[-1])
            if not os.path.exists(f):
                return self.send(404, err("MANIFEST_UNKNOWN", "unknown"))
            body = open(f, "rb").read()
            return self.send(200, body, json.loads(body).get("mediaType", "application/json"))
        if len(parts) >= 5 and parts[-2] == "blobs":
            hexd = parts[-1].split(":")[-1]
            if BEARER:
                return self.send(307, extra=[("Location", "http://127.0.0.2:%d/storage/%s" % (store_port, hexd))])
            return self.blob(hexd)
        return self.send(404)

    def blob(self, hexd):
        f = os.path.join(root, "blobs", hexd)
        if not os.path.exists(f):
            return self.send(404, err("BLOB_UNKNOWN", "unknown"))
        body = open(f, "rb").read()
        big = len(body) > 65536
        if mode in ("die", "flaky") and big and hexd not in cut and self.command == "GET":
            cut.add(hexd)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if mode == "die":
                os._exit(0)
            self.close_connection = True
            return
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            part = body[start:]
            return self.send(206, part, "application/octet-stream",
                             extra=[("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1, len(body)))])
        self.send(200, body, "application/octet-stream")

    def do_POST(self):
        self.log()
        self.body()
        if not self.authorized():
            return
        parts = self.path.split("?")[0].split("/")
        if "uploads" not in parts:
            return self.send(404)
        uid = uuid.uuid4().hex
        with lock:
            uploads[uid] = bytearray()
        name = "/".join(parts[2:parts.index("blobs")])
        return self.send(202, extra=[("Location", "/v2/%s/blobs/uploads/%s" % (name, uid))])

    def do_PATCH(self):
        self.log()
        if not self.authorized():
            return self.body()
        uid = self.path.split("?")[0].split("/")[-1]
        n = int(self.headers.get("Content-Length") or 0)
        with lock:
            data = uploads.get(uid)
            patches[0] += 1
            nth = patches[0]
        if data is None:
            self.body()
            return self.send(404, err("BLOB_UPLOAD_UNKNOWN", "unknown upload"))
        cr = self.headers.get("Content-Range")
        if cr and int(cr.split("-")[0]) != len(data):
            self.body()
            return self.send(416, err("BLOB_UPLOAD_INVALID", "range %s, have %d" % (cr, len(data))))
        if mode in ("upload", "upload-cancel") and nth == 2 and n > 1:
            data += self.rfile.read(n // 2)
            if mode == "upload-cancel":
                with lock:
                    uploads.pop(uid, None)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        data += self.rfile.read(n)
        self.send(202, extra=[("Location", self.path.split("?")[0]), ("Range", "0-%d" % (len(data) - 1))])

    def do_PUT(self):
        self.log()
        body = self.body()
        if not self.authorized():
            return
        path, _, query = self.path.partition("?")
        parts = path.split("/")
        if "uploads" in parts:
            with lock:
                data = uploads.pop(parts[-1], None)
            if data is None:
                return self.send(404, err("BLOB_UPLOAD_UNKNOWN", "unknown upload"))
            data += body
            digest = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv).get("digest", "")
            digest = digest.replace("%3A", ":").replace("%3a", ":")
            got = "sha256:" + hashlib.sha256(data).hexdigest()
            if got != digest:
                return self.send(400, err("DIGEST_INVALID", "got %s" % got))
            os.makedirs(os.path.join(root, "blobs"), exist_ok=True)
            open(os.path.join(root, "blobs", got[7:]), "wb").write(data)
            return self.send(201, extra=[("Docker-Content-Digest", got)])
        if len(parts) >= 5 and parts[-2] == "manifests":
            os.makedirs(os.path.join(root, "manifests"), exist_ok=True)
            d = "sha256:" + hashlib.sha256(body).hexdigest()
            for ref in (parts[-1], d):
                open(os.path.join(root, "manifests", ref), "wb").write(body)
            extra = [("Docker-Content-Digest", d)]
            doc = json.loads(body)
            subject = (doc.get("subject") or {}).get("digest")
            if mode == "referrers" and subject:
                desc = {"mediaType": doc.get("mediaType"), "digest": d, "size": len(body),
                        "artifactType": doc.get("artifactType")}
                if doc.get("annotations"):
                    desc["annotations"] = doc["annotations"]
                with lock:
                    referrers.setdefault(subject, []).append(desc)
                extra.append(("OCI-Subject", subject))
            return self.send(201, extra=extra)
        return self.send(404)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
if BEARER:
    storage = http.server.ThreadingHTTPServer(("127.0.0.2", 0), H)
    store_port = storage.server_address[1]
    threading.Thread(target=storage.serve_forever, daemon=True).start()
srv.serve_forever()
