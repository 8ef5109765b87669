"""Bench helper: a long-lived XML-RPC client of supervisord over its UNIX socket.

Reads one JSON request per line on stdin, answers one JSON line on stdout, so each query
costs one XML-RPC round trip and no Python start-up. Usage: supervisor_rpc.py SOCKET
"""
import json
import sys
import xmlrpc.client

from supervisor.xmlrpc import SupervisorTransport


def proxy(sock):
    transport = SupervisorTransport(None, None, "unix://" + sock)
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def status(s):
    procs = []
    for p in s.supervisor.getAllProcessInfo():
        name = p["name"] if p["group"] == p["name"] else p["group"] + ":" + p["name"]
        procs.append({"name": name, "state": p["statename"], "pid": p["pid"] or None})
    return procs


def update(s):
    # What `supervisorctl update` does.
    added, changed, removed = s.reloadConfig()[0]
    for g in removed:
        s.stopProcessGroup(g)
        s.removeProcessGroup(g)
    for g in changed:
        s.stopProcessGroup(g)
        s.removeProcessGroup(g)
        s.addProcessGroup(g)
    for g in added:
        s.addProcessGroup(g)
    return {"added": added, "changed": changed, "removed": removed}


def main():
    s = proxy(sys.argv[1])
    for line in sys.stdin:
        try:
            req = json.loads(line)
            op = req["op"]
            if op == "status":
                out = status(s)
            elif op == "start":
                out = s.supervisor.startProcess(req["name"], True)
            elif op == "stop_all":
                out = len(s.supervisor.stopAllProcesses(True))
            elif op == "update":
                out = update(s.supervisor)
            elif op == "pid":
                out = s.supervisor.getPID()
            else:
                raise ValueError("unknown op " + op)
            reply = {"ok": True, "out": out}
        except Exception as e:  # noqa: BLE001 - every failure goes back as a reply
            reply = {"ok": False, "error": repr(e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
