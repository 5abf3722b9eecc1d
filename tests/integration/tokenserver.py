# A token server for the tests: docker's bearer-token flow in front of Debian's
# docker-registry (auth: token). It signs RS256 JWTs with `openssl dgst`, the
# certificate in the header's x5c (the registry trusts it as its root bundle).
#   python3 tokenserver.py PORT KEY CERT SERVICE USER:PASS
# Anonymous requests get pull; USER:PASS (Basic) gets pull and push; a wrong
# password gets 401. Repositories named in the file $TOKEN_DENY (one a line, read
# at every request) get no rights at all. Every request is logged to stdout as "GET /token?...
# [basic USER]".
import base64, http.server, json, subprocess, sys, time, urllib.parse, os

port, key, cert, service, cred = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True,
                     capture_output=True).stdout


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(claims):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         check=True, capture_output=True).stdout
    return signing + "." + b64url(sig)


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            given = base64.b64decode(auth[6:]).decode()
            if given != cred:
                print("GET %s [bad credentials]" % self.path, flush=True)
                return self.send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
            user = given.split(":")[0]
        print("GET %s%s" % (self.path, " [basic %s]" % user if user else ""), flush=True)
        if url.path != "/token" or q.get("service", [""])[0] != service:
            return self.send(400, {"errors": [{"code": "BAD_REQUEST", "message": "wrong service"}]})
        access = []
        deny = os.environ.get("TOKEN_DENY", "")
        denied = open(deny).read().split() if deny and os.path.exists(deny) else []
        for scope in q.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            allowed = [a for a in actions.split(",") if a == "pull" or (a == "push" and user)]
            if name in denied:
                allowed = []
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        claims = {"iss": "cairn-test-issuer", "sub": user or "", "aud": service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        token = sign(claims)
        self.send(200, {"token": token, "access_token": token, "expires_in": 300})


http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
