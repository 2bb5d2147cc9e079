#!/usr/bin/python3
"""A stock Python Thrift client of txcoord (run by stock_client_test.cc).

Proves that a client made of nothing but Apache Thrift's Python library (Debian's python3-thrift)
and code generated from idl/txcoord.thrift by `thrift --gen py` runs transactions against a real
cluster:
  1. binary protocol: shard_map(); pick two keys on two different shards by computing FNV-1a 64
     of the key modulo the shard count (the hash partitioning of the wire contract); begin_txn,
     write both, commit -> COMMITTED; a new transaction reads both back; a one-shot execute with
     two GETs returns both values in request order.
  2. compact protocol: begin_txn (3PC); the client routes by itself: Participant.run with a PUT on
     each key's shard (whose primary would answer InvalidRequest if our hash disagreed with the
     server's), commit naming those shards in touched_shards -> COMMITTED; an execute reads the
     new values back.
A transaction that touches keys just committed may abort with LOCK_CONFLICT (a shard releases the
committed transaction's locks once its COMMIT is applied there, just after the client heard
COMMITTED; locking is no-wait): such a transaction is retried whole, for at most 5 s.
Prints each step; exits 0 on success, 1 with a "FAIL:" line on any mismatch or error, 2 on bad
usage. Usage: stock_client.py HOST PORT GEN_PY_DIR
"""

import sys
import time

SOCKET_TIMEOUT_MS = 10000
LOCK_WAIT_S = 5


def fail(message):
    print("stock_client.py: FAIL: " + message, flush=True)
    sys.exit(1)


def step(message):
    print("stock_client.py: " + message, flush=True)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


# The test vectors of cluster/'s KeyHash (tests/unit/shard_map_test.cc).
if fnv1a64(b"") != 0xCBF29CE484222325 or fnv1a64(b"a") != 0xAF63DC4C8601EC8C \
        or fnv1a64(b"foobar") != 0x85944171F73967E8:
    fail("fnv1a64 does not match its test vectors")


def main():
    if len(sys.argv) != 4:
        print("usage: stock_client.py HOST PORT GEN_PY_DIR", file=sys.stderr)
        return 2
    host, port, gen_py = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, gen_py)
    try:
        from thrift.protocol import TBinaryProtocol, TCompactProtocol
        from thrift.transport import TSocket, TTransport
    except ImportError as e:
        fail("cannot import thrift (%s): run with Debian's /usr/bin/python3 and python3-thrift"
             % e)
    try:
        from txcoord_thrift import Coordinator, Participant
        from txcoord_thrift.ttypes import (AbortReason, InvalidRequest, Op, OpType, Outcome,
                                           Protocol, TxnError)
    except ImportError as e:
        fail("cannot import the generated code from %s (%s)" % (gen_py, e))

    opened = []

    def connect(service, h, p, compact=False):
        socket = TSocket.TSocket(h, p)
        socket.setTimeout(SOCKET_TIMEOUT_MS)
        transport = TTransport.TFramedTransport(socket)
        protocol = (TCompactProtocol.TCompactProtocol(transport) if compact
                    else TBinaryProtocol.TBinaryProtocol(transport))
        transport.open()
        opened.append(transport)
        return service.Client(protocol)

    class LockConflict(Exception):
        pass

    def with_retries(run, what):
        """Runs `run` (one whole transaction) until it does not hit a lock conflict, for at most
        LOCK_WAIT_S. A shard releases a committed transaction's locks once its COMMIT is applied
        there, which may be just after the client heard COMMITTED: a transaction touching the
        same keys at once aborts with LOCK_CONFLICT (no-wait locking) and may be retried."""
        deadline = time.monotonic() + LOCK_WAIT_S
        conflicts = 0
        while True:
            try:
                value = run()
            except LockConflict as e:
                conflicts += 1
                if time.monotonic() >= deadline:
                    fail("%s: still LOCK_CONFLICT after %d s: %s" % (what, LOCK_WAIT_S, e))
                time.sleep(0.005)
                continue
            if conflicts:
                step("%s: retried after %d lock conflict(s)" % (what, conflicts))
            return value

    def conflict_of(error):
        """The TxnError as LockConflict if it is one (abort with LOCK_CONFLICT), else itself."""
        if error.outcome == Outcome.ABORTED and error.reason == AbortReason.LOCK_CONFLICT:
            return LockConflict(error.message)
        return error

    def execute_gets(client, protocol, keys):
        """A one-shot transaction of GETs; its ExecuteResult, retried on a lock conflict."""
        def run():
            result = client.execute(protocol, [Op(type=OpType.GET, key=k) for k in keys], "")
            if (result.result.outcome == Outcome.ABORTED
                    and result.result.reason == AbortReason.LOCK_CONFLICT):
                raise LockConflict(result.result.detail)
            return result
        return with_retries(run, "execute of %d GET(s)" % len(keys))

    def expect_committed(result, what):
        if result.outcome != Outcome.COMMITTED:
            fail("%s: outcome %s (reason %s, %r), expected COMMITTED"
                 % (what, Outcome._VALUES_TO_NAMES.get(result.outcome, result.outcome),
                    result.reason, result.detail))

    def expect_read(result, key, value, what):
        if not result.found or result.value != value:
            fail("%s: read %r -> found=%s value=%r, expected %r"
                 % (what, key, result.found, result.value, value))

    try:
        # ---- 1. binary protocol through the coordinator --------------------------------------
        coordinator = connect(Coordinator, host, port)
        shard_map = coordinator.shard_map()
        shards = len(shard_map.shards)
        step("shard_map: version %d, %s, %d shards" % (shard_map.version,
                                                       shard_map.partitioning, shards))
        if shard_map.partitioning != "hash" or shards < 2:
            fail("expected hash partitioning over at least 2 shards")

        def shard_of(key):
            return fnv1a64(key) % shards

        key_a = b"py-0"
        key_b = next(k for k in (b"py-%d" % i for i in range(1, 1000))
                     if shard_of(k) != shard_of(key_a))
        step("keys %r (shard %d) and %r (shard %d)" % (key_a, shard_of(key_a), key_b,
                                                       shard_of(key_b)))

        txn = coordinator.begin_txn(Protocol.TWO_PC, "")
        step("begin_txn(TWO_PC) -> epoch %d seq %d" % (txn.epoch, txn.seq))
        coordinator.write(txn, key_a, b"alpha")
        coordinator.write(txn, key_b, b"beta")
        step("wrote both keys")
        result = coordinator.commit(txn, [])
        expect_committed(result, "commit")
        step("commit -> COMMITTED")

        def read_back():
            reader = coordinator.begin_txn(Protocol.TWO_PC, "")
            try:
                read_a = coordinator.read(reader, key_a)
                read_b = coordinator.read(reader, key_b)
            except TxnError as e:
                coordinator.abort(reader, [])
                raise conflict_of(e)
            expect_read(read_a, key_a, b"alpha", "new transaction")
            expect_read(read_b, key_b, b"beta", "new transaction")
            expect_committed(coordinator.commit(reader, []), "commit of the reader")
        with_retries(read_back, "read back")
        step("a new transaction reads both values back")

        executed = execute_gets(coordinator, Protocol.TWO_PC, [key_b, key_a])
        expect_committed(executed.result, "execute")
        if len(executed.reads) != 2:
            fail("execute: %d reads for 2 GETs" % len(executed.reads))
        expect_read(executed.reads[0], key_b, b"beta", "execute (first GET)")
        expect_read(executed.reads[1], key_a, b"alpha", "execute (second GET)")
        step("execute(GET b, GET a) -> COMMITTED with both values in request order")

        # ---- 2. compact protocol, routed by the client itself --------------------------------
        compact = connect(Coordinator, host, port, compact=True)
        participants = {}

        def participant_of(shard):
            if shard.shard not in participants:
                participants[shard.shard] = connect(Participant, shard.host, shard.port,
                                                    compact=True)
            return participants[shard.shard]

        def write_routed():
            txn = compact.begin_txn(Protocol.THREE_PC, "")
            step("compact: begin_txn(THREE_PC) -> epoch %d seq %d" % (txn.epoch, txn.seq))
            touched = []
            for key, value in ((key_a, b"alpha-2"), (key_b, b"beta-2")):
                shard = shard_map.shards[shard_of(key)]
                touched.append(shard.shard)
                try:
                    reads = participant_of(shard).run(
                        txn, [Op(type=OpType.PUT, key=key, value=value)])
                except InvalidRequest as e:
                    fail("Participant.run of %r on shard %d (our FNV-1a 64 routing): %s"
                         % (key, shard.shard, e.message))
                except TxnError as e:
                    compact.abort(txn, touched)
                    raise conflict_of(e)
                if reads:
                    fail("Participant.run with one PUT returned %d reads" % len(reads))
                step("compact: Participant.run PUT %r on shard %d" % (key, shard.shard))
            expect_committed(compact.commit(txn, touched), "compact commit")
            step("compact: commit(touched_shards=%s) -> COMMITTED" % touched)
        with_retries(write_routed, "compact routed write")

        executed = execute_gets(compact, Protocol.THREE_PC, [key_a, key_b])
        expect_committed(executed.result, "compact execute")
        if len(executed.reads) != 2:
            fail("compact execute: %d reads for 2 GETs" % len(executed.reads))
        expect_read(executed.reads[0], key_a, b"alpha-2", "compact execute")
        expect_read(executed.reads[1], key_b, b"beta-2", "compact execute")
        step("compact: execute reads the new values back")
    except TxnError as e:
        fail("TxnError outcome=%s reason=%s: %s" % (e.outcome, e.reason, e.message))
    except InvalidRequest as e:
        fail("InvalidRequest: %s" % e.message)
    except TTransport.TTransportException as e:
        fail("transport: %s" % e)
    finally:
        for transport in opened:
            transport.close()
    step("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
