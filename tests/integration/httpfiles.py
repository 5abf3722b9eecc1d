#!/usr/bin/env python3
"""A loopback file server for ADD of a URL (t0207-add-remote.sh).

httpfiles.py PORT DIR LOG: serves the files of DIR on 127.0.0.1:PORT with an ETag
(the sha256 of the content) and a Last-Modified (the file's mtime), answers 304 to
a matching If-None-Match or a not-older If-Modified-Since, 404 to a missing file,
a file DIR/PATH.noheaders without either validator, and DIR/D/index for D/. Each request is one line
of LOG: "METHOD PATH STATUS conditional|plain".
"""
import email.utils
import hashlib
import http.server
import os
import sys

PORT, ROOT, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def record(self, status, conditional):
        with open(LOG, "a") as f:
            f.write("%s %s %d %s\n" % (self.command, self.path, status,
                                        "conditional" if conditional else "plain"))

    def do_GET(self):
        path = os.path.join(ROOT, self.path.split("?")[0].lstrip("/"))
        if path.endswith("/"):
            path += "index"
        conditional = bool(self.headers.get("If-None-Match") or
                           self.headers.get("If-Modified-Since"))
        bare = os.path.isfile(path + ".noheaders")
        if bare:
            path = path + ".noheaders"
        if not os.path.isfile(path):
            self.record(404, conditional)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = open(path, "rb").read()
        etag = '"%s"' % hashlib.sha256(data).hexdigest()
        mtime = int(os.stat(path).st_mtime)
        modified = email.utils.formatdate(mtime, usegmt=True)
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        fresh = False
        if not bare:
            if inm is not None:
                fresh = inm == etag
            elif ims is not None:
                t = email.utils.parsedate_to_datetime(ims).timestamp()
                fresh = mtime <= t
        if fresh:
            self.record(304, conditional)
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.record(200, conditional)
        self.send_response(200)
        if not bare:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
