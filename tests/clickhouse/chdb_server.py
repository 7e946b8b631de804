#!/usr/bin/env python3
"""A current ClickHouse (chdb-core's embedded clickhouse-local) serving ClickHouse's real HTTP
interface on 127.0.0.1, for vantage's fleet-store tests.

    chdb_server.py DIR HTTP_PORT USER PASSWORD

DIR holds the data and the config (created if missing; a second start on the same DIR finds
the data again). Users: `default` (no password) and USER with PASSWORD, from loopback only.
Prints `ready HTTP_PORT VERSION in SECONDS` on stdout once the server answers a query; serves
until SIGTERM, SIGINT or the end of stdin (then the long query that keeps the listeners up is
killed over HTTP, which stops them), or until it is SIGKILLed (the data survives).

How (found by hand in 2026-12; it relies on undocumented behaviour, so .ci/run pins the
version): clickhouse-local reads ./config.xml from the current directory, and only the
low-level `chdb._chdb.query` path starts the servers (not `chdb.connect()`): one long query
`SYSTEM START LISTEN HTTP; SELECT sleep(...)` in a worker thread keeps them alive. Its output
format must not be Null: the HTTP answers would inherit it and come back empty.
"""

import os
import signal
import sys
import threading
import time
import urllib.request

KEEPALIVE_ID = "vantage-chdb-keepalive"


def config(data, port, user, password):
    return f"""<clickhouse>
<logger><level>warning</level><log>{data}/log/server.log</log><errorlog>{data}/log/err.log</errorlog><console>0</console></logger>
<listen_host>127.0.0.1</listen_host>
<http_port>{port}</http_port>
<path>{data}/data/</path><tmp_path>{data}/tmp/</tmp_path><user_files_path>{data}/user_files/</user_files_path>
<users_config>users.xml</users_config>
<default_profile>default</default_profile>
</clickhouse>
""", f"""<clickhouse><profiles><default></default></profiles><users>
<default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota><access_management>1</access_management></default>
<{user}><password>{password}</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></{user}>
</users><quotas><default></default></quotas></clickhouse>
"""


def http(port, query, timeout=5):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=query.encode())
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    data, port, user, password = os.path.abspath(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    os.makedirs(os.path.join(data, "log"), exist_ok=True)
    main_xml, users_xml = config(data, port, user, password)
    for name, text in (("config.xml", main_xml), ("users.xml", users_xml)):
        with open(os.path.join(data, name), "w") as f:
            f.write(text)
    os.chdir(data)
    import chdb._chdb as engine  # after chdir: it reads ./config.xml

    # Keep SIGTERM and SIGINT ours (chdb installs its own otherwise, which swallow them).
    engine.set_signal_handlers_enabled(0)

    failure = []

    def serve():
        try:
            engine.query(
                f"SYSTEM START LISTEN HTTP; SELECT sleep(3) FROM numbers(1000000000) "
                f"SETTINGS max_block_size = 1, max_execution_time = 0, function_sleep_max_microseconds_per_block = 0, "
                f"log_comment = '{KEEPALIVE_ID}'",
                "TabSeparated",
                path=os.path.join(data, "data"),
            )
        except Exception as e:  # KILL QUERY ends it with "Query was cancelled"
            failure.append(str(e))

    worker = threading.Thread(target=serve, daemon=True)
    started = time.monotonic()
    worker.start()
    deadline = started + 60
    while True:
        try:
            version = http(port, "SELECT version()").strip()
            break
        except Exception:
            if not worker.is_alive():
                sys.exit(f"chdb server stopped before answering: {failure}")
            if time.monotonic() > deadline:
                sys.exit("chdb server not ready in 60 s")
            time.sleep(0.05)
    print(f"ready {port} {version} in {time.monotonic() - started:.2f}s", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def watch_stdin():
        # The test harness holds our stdin: its end (the harness gone) stops us too.
        while sys.stdin.buffer.read(4096):
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not stop.is_set() and worker.is_alive():
        stop.wait(0.5)
    try:
        http(port, f"KILL QUERY WHERE query LIKE '%{KEEPALIVE_ID}%' AND query NOT LIKE 'KILL%' SYNC")
    except Exception:
        pass
    worker.join(10)
    # Not a normal exit: the stdin watcher may hold stdin's lock, which finalizing would wait on.
    os._exit(0 if not worker.is_alive() else 1)


if __name__ == "__main__":
    main()
