"""moto_server with DynamoDB requests applied one at a time.

moto serves each request on its own thread and checks a condition expression and writes
the item as two steps, so two racing conditional writes can both pass their check. Real
DynamoDB applies a conditional write atomically, and the tests of races (claims against
warm timeouts, quota counters) depend on that. Holding one lock around every DynamoDB
action gives moto the same guarantee; the other services stay concurrent.

Usage: python3 scripts/moto-server.py -H 127.0.0.1 -p PORT
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized_call_action(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _serialized_call_action

if __name__ == "__main__":
    main(sys.argv[1:])
