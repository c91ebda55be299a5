#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A stand-in for amber-vmm that speaks the control protocol and nothing
else, for driver/vm's unit tests of what the real one cannot do (yet) or
only slowly. Once the manager's command and event connections are up it
acts by the VM's --name:
  panic*   DEVICE_FAILED on the cpu (a fatal vCPU exit) and pauses;
  reboot*  SHUTDOWN guest-reset (as with --no-reboot) and exits 0;
  other    a write error on disk0 with action "stop" (ENOSPC), and
           "io-error" in query-status until "resume"."""
import json
import os
import signal
import socket
import sys
import threading
import time

args = sys.argv[1:]
control = args[args.index('--control') + 1]
name = args[args.index('--name') + 1]
state = {'status': 'running', 'clients': []}
lock = threading.Lock()


def send(conn, obj):
    try:
        conn.sendall((json.dumps(obj) + '\n').encode())
    except OSError:
        pass


def reply(request):
    command = request.get('execute')
    if command == 'query-status':
        return {'status': state['status'], 'running': state['status'] == 'running',
                'name': name, 'pid': os.getpid()}
    if command == 'query-chardev':
        return [{'label': 'serial0', 'backend': 'none', 'path': ''}]
    if command == 'query-block':
        return []
    if command == 'pause':
        state['status'] = 'paused'
        return {}
    if command == 'resume':
        state['status'] = 'running'
        return {}
    return None


def serve(conn):
    send(conn, {'greeting': {'protocol': {'major': 1, 'minor': 0}, 'program': 'amber-vmm',
                             'version': 'fake'}})
    buffer = b''
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return
        buffer += chunk
        while b'\n' in buffer:
            line, buffer = buffer.split(b'\n', 1)
            request = json.loads(line)
            with lock:
                value = reply(request)
            if value is None:
                send(conn, {'error': {'class': 'CommandNotFound', 'desc': 'no'},
                            'id': request.get('id')})
            else:
                send(conn, {'return': value, 'id': request.get('id')})


def report_error():
    time.sleep(0.3)
    if name.startswith('panic'):
        with lock:
            state['status'] = 'paused'
            for conn in state['clients']:
                send(conn, {'event': 'DEVICE_FAILED',
                            'data': {'device': 'cpu', 'message': 'KVM_EXIT_INTERNAL_ERROR'}})
        return
    if name.startswith('reboot'):
        with lock:
            for conn in state['clients']:
                send(conn, {'event': 'SHUTDOWN', 'data': {'reason': 'guest-reset'}})
        time.sleep(0.1)
        os._exit(0)
    with lock:
        state['status'] = 'io-error'
        for conn in state['clients']:
            # A domain named ide*: the error is on its IDE disk hda, which
            # amber-vmm names by libvirt's alias.
            device = 'ide0-0-0' if name.startswith('ide') else 'disk0'
            send(conn, {'event': 'BLOCK_IO_ERROR',
                        'data': {'device': device, 'operation': 'write', 'action': 'stop',
                                 'nospace': True, 'errno': 28, 'kind': 'no space',
                                 'message': 'No space left on device'}})


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(control)
    server.listen(16)
    accepted = 0
    while True:
        conn, _ = server.accept()
        accepted += 1
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
        with lock:
            state['clients'].append(conn)
        # The first connection is the manager's socket probe, then the
        # command and the event connections.
        if accepted == 3:
            threading.Thread(target=report_error, daemon=True).start()


main()
