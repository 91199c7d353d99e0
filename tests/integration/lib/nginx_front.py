"""docker/nginx.conf run for real by Debian's nginx on loopback in front of test instances.

The file is the one the compose setup mounts; only the upstream's server lines, the listen
address and (so that no root-owned directory is needed) the temp paths are replaced."""
import os, re, shutil, subprocess, tempfile
from mt import ROOT, free_port


class Nginx:
    def __init__(self, servers):
        self.tmp = tempfile.mkdtemp(prefix="mt-nginx-")
        self.port = free_port()
        conf = open(os.path.join(ROOT, "docker", "nginx.conf")).read()
        upstream = "".join(f"        server 127.0.0.1:{s.port} max_fails=3 fail_timeout=10s;\n"
                           for s in servers)
        rendered, self.n_servers = re.subn(r"(?m)^\s*server monkeytown-\d:8080[^;]*;\n", "", conf)
        rendered = rendered.replace("        hash $remote_addr consistent;\n",
                                    "        hash $remote_addr consistent;\n" + upstream, 1)
        rendered, self.n_listen = re.subn(r"(?m)^(\s*)listen 80;",
                                          rf"\1listen 127.0.0.1:{self.port};", rendered)
        temps = "".join(f"    {k}_temp_path {self.tmp}/{k};\n"
                        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        rendered = rendered.replace("http {\n", "http {\n" + temps, 1)
        self.conf_path = os.path.join(self.tmp, "nginx.conf")
        open(self.conf_path, "w").write(rendered)
        self.cmd = ["nginx", "-p", self.tmp, "-c", self.conf_path,
                    "-e", os.path.join(self.tmp, "error.log"),
                    "-g", f"daemon off; pid {self.tmp}/nginx.pid;"]
        self.proc = None
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"

    def check(self):
        """nginx -t on the rendered file: the CompletedProcess."""
        return subprocess.run(self.cmd + ["-t"], capture_output=True, text=True, timeout=30)

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)
