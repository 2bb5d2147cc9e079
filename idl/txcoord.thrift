// The wire contract of txcoord (DESIGN.md sections 4 and 7).
//
// Three services share these types:
//   - Coordinator: what client services call (begin_txn/read/write/commit/abort/status/execute).
//     Stock Thrift clients in any language use it over framed transport with the binary
//     (default) or compact protocol.
//   - Participant: a shard primary; `run` executes a transaction's reads and writes there.
//   - Peer: one-way batches of protocol messages between nodes, served on each node's own peer
//     port, apart from the client services, so that no client can forge a protocol message. The
//     cores are message-driven state machines (DESIGN.md section 3), so the wire carries their
//     messages as they are, many transactions' messages per call (section 7), rather than one
//     request/reply call per protocol step.
//
// Compatibility rules: field ids and enum values are never reused or renumbered; new fields are
// optional or have a default that means "old behaviour"; a removed field's id is retired. The
// generated C++ lives in namespace txcoord::thrift so it never collides with the cores' own types
// in namespace txcoord (cores never see these types: the edge translates, STYLE.md rule 4).

namespace cpp txcoord.thrift
namespace py txcoord_thrift

// ------------------------------------------------------------------------------------------------
// Enums
// ------------------------------------------------------------------------------------------------

/** Which atomic commitment protocol a transaction runs (chosen per transaction at begin). */
enum Protocol {
  /** Two-phase commit, presumed abort. */
  TWO_PC = 1,
  /** Three-phase commit with quorum-based termination (Skeen 1982 / E3PC). */
  THREE_PC = 2,
}

/**
 * What is known about a transaction's fate.
 * COMMITTED and ABORTED are decisions: once reported they never change (DESIGN.md section 8).
 * UNKNOWN is never a guess: it says the reporter cannot tell (the transaction is still being
 * decided, or the reply was lost). Ask `Coordinator.status` later; never assume either way.
 */
enum Outcome {
  /** The commit decision is durable; the writes are applied or will be on every participant. */
  COMMITTED = 1,
  /** The transaction is aborted (decided, or presumed for a transaction nobody prepared). */
  ABORTED = 2,
  /** Not decided yet, or the reporter cannot tell. May still become COMMITTED or ABORTED. */
  UNKNOWN = 3,
}

/** Why a transaction aborted. NONE when it did not abort (or the outcome is not ABORTED). */
enum AbortReason {
  /** No abort. */
  NONE = 0,
  /** A participant voted NO in the prepare phase. */
  VOTE_NO = 1,
  /** A lock could not be taken (wait-die / no-wait: retrying the whole transaction may succeed). */
  LOCK_CONFLICT = 2,
  /** A participant or the client did not answer in time (prepare timeout, idle transaction). */
  TIMEOUT = 3,
  /** The client called abort. */
  CLIENT_ABORT = 4,
  /** A participant crashed or failed over and lost the transaction's unprepared state. */
  PARTICIPANT_FAILED = 5,
  /** An ADD op would have left a value below its min_result, or a value was not a decimal i64. */
  CONSTRAINT = 6,
  /** The transaction was started or driven by a coordinator whose epoch has been superseded. */
  STALE_EPOCH = 7,
  /** Decided ABORT by the 3PC termination protocol while the coordinator was unreachable. */
  TERMINATION = 8,
  /** An operator forced the abort (a heuristic outcome, recorded as such). */
  OPERATOR = 9,
  /** The transaction is not known where it was sent (never begun, or forgotten after an abort). */
  UNKNOWN_TXN = 10,
}

/**
 * The state of a transaction at one participant (shard), as the participant knows it.
 * The order PREPARED < PRE_COMMITTED < COMMITTED is the 3PC progression; PRE_ABORTED is the
 * termination protocol's counterpart of PRE_COMMITTED for an abort decision.
 */
enum TxnState {
  /** The participant has no record: never saw the transaction, or forgot it after an abort. */
  UNKNOWN = 0,
  /** Executing reads and writes under locks; not prepared; can still abort unilaterally. */
  ACTIVE = 1,
  /** Voted YES: the write set is durable on every in-sync replica; must wait for the decision. */
  PREPARED = 2,
  /** 3PC: PRE-COMMIT is durable; the outcome will be COMMITTED. */
  PRE_COMMITTED = 3,
  /** 3PC termination: an abort proposal at some ballot is durable; the outcome will be ABORTED. */
  PRE_ABORTED = 4,
  /** The commit is durable and the writes are applied. */
  COMMITTED = 5,
  /** The abort is applied; locks and buffered writes are released. */
  ABORTED = 6,
  /**
   * Finished here long ago and no longer remembered: a shard keeps the outcomes of its last
   * `retain_finished` finished 2PC transactions. Says nothing about the outcome. (Never in a
   * PeerMessage.)
   */
  FORGOTTEN = 7,
}

/** A participant's answer to prepare. */
enum Vote {
  /** Prepared: PREPARED (with the write set) is durable on every in-sync replica of the shard. */
  YES = 1,
  /** Cannot commit: the participant has aborted its part and forgotten it (presumed abort). */
  NO = 2,
  /** Only read: locks released, nothing to commit; the participant leaves phase 2. */
  READ_ONLY = 3,
}

/** The kind of one operation in a one-shot `execute` or an early-prepare `prepare`. */
enum OpType {
  /** Read `key`. Its OpResult says whether the key exists and, if so, its value. */
  GET = 1,
  /** Write `value` to `key`. */
  PUT = 2,
  /** Remove `key` (no error if it does not exist). */
  DELETE = 3,
  /**
   * Add `delta` to the value of `key`, read as a base-10 signed 64-bit integer in ASCII
   * (a missing key reads as 0), and store the sum the same way. If the sum is below
   * `min_result` (when set), or the value is not such an integer, or the sum overflows,
   * the transaction aborts with reason CONSTRAINT.
   */
  ADD = 4,
}

// ------------------------------------------------------------------------------------------------
// Structs shared by both services
// ------------------------------------------------------------------------------------------------

/**
 * A transaction id, unique across coordinator failovers: `epoch` is the coordinator group's epoch
 * when the transaction began, `seq` a number the coordinator of that epoch never reuses.
 */
struct TxnId {
  /** Coordinator epoch at begin. */
  1: i64 epoch,
  /** Sequence number within the epoch. */
  2: i64 seq,
}

/** One operation on one key. */
struct Op {
  1: OpType type,
  /** The key; any bytes. */
  2: binary key,
  /** PUT only: the value to write. */
  3: optional binary value,
  /** ADD only: the amount to add (may be negative). */
  4: optional i64 delta,
  /** ADD only: the smallest allowed result; unset means no lower bound. */
  5: optional i64 min_result,
  /** GET only: take the exclusive lock (a read that will be followed by a write of the key). */
  6: optional bool for_update,
}

/** The result of reading one key. */
struct OpResult {
  1: binary key,
  /** Whether the key exists (as seen by this transaction, including its own writes). */
  2: bool found,
  /** The value; set if and only if `found`. */
  3: optional binary value,
}

/** The operations of one transaction that go to one shard. */
struct ShardOps {
  1: i32 shard,
  2: list<Op> ops,
}

/** Where one shard's primary listens. */
struct ShardInfo {
  /** Shard id, dense from 0. */
  1: i32 shard,
  /** Host name or address of the shard's current primary. */
  2: string host,
  /** Thrift (Participant service) port of the shard's current primary. */
  3: i32 port,
}

/**
 * How keys map to shards. Clients that route by themselves cache it and refresh when `version`
 * changes.
 */
struct ShardMap {
  /** Increases on every change (primary moved, shard added). */
  1: i64 version,
  /**
   * "hash": a key belongs to shard hash(key) mod shards.size(), with the hash function of
   * common/'s shard routing. "range": shards[i] owns the keys k with
   * range_split_keys[i-1] <= k < range_split_keys[i] (bytewise unsigned order, open at both ends).
   */
  2: string partitioning,
  /** Every shard, ordered by shard id. */
  3: list<ShardInfo> shards,
  /** "range" only: shards.size() - 1 split keys in ascending order; empty for "hash". */
  4: list<binary> range_split_keys,
}

/** What the coordinator knows about a transaction. */
struct TxnStatus {
  1: TxnId txn,
  /** COMMITTED or ABORTED once decided; UNKNOWN while the transaction is still undecided. */
  2: Outcome outcome,
  /** Why it aborted (outcome ABORTED); NONE otherwise. */
  3: AbortReason reason,
  /** Human-readable detail for operators (which shard voted NO, which key conflicted, ...). */
  4: string detail,
}

/** A decided outcome of commit. UNKNOWN never appears here: it is thrown as TxnError. */
struct CommitResult {
  /** COMMITTED or ABORTED. */
  1: Outcome outcome,
  /** Why it aborted; NONE when committed. */
  2: AbortReason reason,
  /** Human-readable detail. */
  3: string detail,
}

/** The result of a one-shot `execute`. */
struct ExecuteResult {
  /** The id the transaction ran under (for `status` and tracing). */
  1: TxnId txn,
  /** COMMITTED or ABORTED, as for `commit`. */
  2: CommitResult result,
  /** One result per GET op, in the order of the request's ops; empty unless COMMITTED. */
  3: list<OpResult> reads,
}

// ------------------------------------------------------------------------------------------------
// Exceptions
// ------------------------------------------------------------------------------------------------

/**
 * The transaction did not do what the call asked, and `outcome` says what is known about it:
 *   ABORTED   - it is aborted (`reason` says why); the caller may retry the whole transaction
 *               from begin_txn.
 *   COMMITTED - it is already committed (e.g. abort called after the commit was decided).
 *   UNKNOWN   - the commit may or may not have happened (the decision was in flight when a
 *               deadline passed, a connection broke or the coordinator failed over). It must NOT
 *               be blindly retried: a retry could apply the writes twice. Ask `status` until it
 *               says COMMITTED or ABORTED.
 */
exception TxnError {
  1: Outcome outcome,
  2: AbortReason reason,
  3: string message,
  /** The transaction concerned, when one was assigned (always set by `execute`). */
  4: optional TxnId txn,
}

/**
 * The request is malformed or does not fit the transaction's state: unknown transaction id,
 * write after commit, empty or oversized key, missing value on a PUT, missing delta on an ADD.
 * Retrying the same request cannot succeed. Says nothing about any transaction's outcome.
 */
exception InvalidRequest {
  1: string message,
}

/**
 * The request carried an epoch older than the newest one the receiver knows: its sender has been
 * deposed (fenced, DESIGN.md section 4) and the request changed nothing. The sender must stop
 * acting as primary.
 */
exception StaleEpoch {
  /** The newest epoch the receiver knows. */
  1: i64 current_epoch,
}

/**
 * This node is a replica of its group but not the group's serving primary: the request changed
 * nothing. Ask `primary` (the client address of the group's primary as this node last knew it,
 * "host:port"; empty when it knows none, e.g. during a failover) or refresh the shard map and
 * retry. Clients of a replicated cluster list every replica and try them in turn.
 * Except for Participant.run in a transaction that already ran ops at that shard: those ops were
 * buffered at the old primary and are lost with it (reads and writes are replicated only at
 * PREPARE), so the transaction must be aborted, not continued at the new primary.
 */
exception NotPrimary {
  1: string message,
  2: string primary,
}

// ------------------------------------------------------------------------------------------------
// Node-to-node protocol messages (coordinator <-> shard, shard <-> shard for 3PC termination)
// ------------------------------------------------------------------------------------------------

/**
 * The kind of a protocol message between nodes. The numbers are those of the cores' MsgType
 * (common/protocol.h); the protocol itself is DESIGN.md section 4 and recovery/GUARANTEES.md.
 */
enum MessageType {
  /** coordinator -> shard: vote on the transaction (participants, protocol, one_phase, ops). */
  PREPARE = 1,
  /** shard -> coordinator: vote, reason, reads; one_phase: the outcome. */
  VOTE = 2,
  /** coordinator -> shard (3PC): accept PRE-COMMIT at ballot 0. */
  PRE_COMMIT = 3,
  /** shard -> coordinator: ok, promised_ballot. */
  PRE_COMMIT_ACK = 4,
  /** coordinator or termination leader -> shard: the commit decision. */
  COMMIT = 5,
  /** coordinator or termination leader -> shard: the abort decision. */
  ABORT = 6,
  /** shard -> coordinator: the decision is durable here. */
  DECISION_ACK = 7,
  /** anyone -> shard: its state (a promise when ballot > 0; abort_if_unprepared). */
  STATE_QUERY = 8,
  /** shard -> asker: state, accepted and promised ballots, ok. */
  STATE_REPLY = 9,
  /** termination leader -> shard: accept PRE-COMMIT (commit) or PRE-ABORT at ballot. */
  TERM_ACCEPT = 10,
  /** shard -> leader: ok, state, promised_ballot. */
  TERM_ACCEPT_ACK = 11,
  /** shard -> coordinator: what was decided? (in-doubt resolution) */
  STATUS = 12,
  /** coordinator -> shard: the outcome (UNKNOWN: not decided yet). */
  STATUS_REPLY = 13,
  /** shard -> coordinator: your epoch is deposed; current_epoch is the newest seen. */
  STALE_EPOCH = 14,
  /** termination leader -> coordinator: the outcome the termination round chose. */
  LEARN_DECISION = 15,
}

/**
 * One protocol message. Every message carries the sender's coordinator epoch (fencing). Fields a
 * type does not use are left unset; an unset field means its default (0, false, empty, NONE).
 * Ballots are unsigned 64-bit values carried in i64 (bit for bit).
 */
struct PeerMessage {
  1: MessageType type,
  /** The sender: a shard id, or -1 for the coordinator. */
  2: i32 from_node,
  /** The receiver: a shard id, or -1 for the coordinator. */
  3: i32 to_node,
  4: TxnId txn,
  /** The coordinator epoch this message speaks for. */
  5: i64 epoch,
  6: optional Protocol protocol,
  /** PREPARE: every shard of the transaction. */
  7: optional list<i32> participants,
  /** PREPARE: the only participant decides (one-phase commit). */
  8: optional bool one_phase,
  /** PREPARE: one-shot execution (early prepare). */
  9: optional list<Op> ops,
  10: optional Vote vote,
  11: optional AbortReason reason,
  12: optional list<OpResult> reads,
  13: optional Outcome outcome,
  14: optional TxnState state,
  15: optional i64 ballot,
  16: optional i64 accepted_ballot,
  17: optional i64 promised_ballot,
  /** TERM_ACCEPT: PRE-COMMIT (true) or PRE-ABORT (false). */
  18: optional bool commit,
  /** STATE_QUERY: abort first if not prepared, so it can never vote YES later. */
  19: optional bool abort_if_unprepared,
  20: optional bool ok,
  /** STALE_EPOCH: the newest coordinator epoch the shard has seen. */
  21: optional i64 current_epoch,
}

// ------------------------------------------------------------------------------------------------
// Replication (replica <-> replica of one group, replication/core/replica_core.h)
// ------------------------------------------------------------------------------------------------

/**
 * One record of a group's log as it is shipped: its position and its encoding in the write-ahead
 * log's own format (wal/FORMAT.md: versioned, checksummed, carrying its log_epoch), so a replica
 * appends exactly what its primary logged.
 */
struct LogRecord {
  1: i64 position,
  2: binary payload,
  /** Appended lazily by the primary (wal/wal.h): nothing waits urgently for its durability, so
      a member makes it durable with its next sync instead of one of its own. Absent: false. */
  3: optional bool lazy,
}

/**
 * One replication message. `type` is 1 APPEND (primary -> member: records after prev_position,
 * a heartbeat without records), 2 APPEND_ACK (member -> primary: ok with match_position, or a
 * mismatch with last_position/last_epoch), 3 STALE (the receiver knows the newer `epoch`). It is
 * an i32, not an enum, so that an unknown value is refused without ever being held in one.
 * Positions, epochs, ticks and disk ids are unsigned 64-bit values carried in i64 and never
 * negative.
 */
struct ReplicationMessage {
  1: i32 type,
  /** The group: "coordinator" or "shard<N>". */
  2: string group,
  3: i32 from_replica,
  4: i32 to_replica,
  5: i64 epoch,
  6: optional i64 prev_position,
  7: optional i64 prev_epoch,
  8: optional list<LogRecord> records,
  9: optional i64 commit_position,
  10: optional i64 sent_at,
  11: optional bool ok,
  12: optional i64 disk,
  13: optional i64 match_position,
  14: optional i64 last_position,
  15: optional i64 last_epoch,
  /** APPEND: the primary's first log position (backups drop what is before it). */
  16: optional i64 log_start,
  /** TRANSFER (4) and TRANSFER-ACK (5): a state transfer's id and chunk number. */
  17: optional i64 transfer_id,
  18: optional i64 transfer_seq,
  /** TRANSFER: the transfer's last chunk. */
  19: optional bool last,
  /** TRANSFER: a chunk of the primary's state (a shard's store), checked by the receiver. */
  20: optional binary payload,
}

/**
 * What every node serves for its peers, on its peer port (never on the client port: a client
 * calling `deliver` there gets an unknown-method error and changes nothing). Messages are
 * one-way: the protocol retries what is lost (resends with capped backoff), so a batch that
 * never arrives costs time, never safety. A node
 * batches every message it has for one peer into one call. A malformed message is dropped with a
 * log line naming the sender; the rest of the batch is delivered.
 */
/** One replica's view of its group, for operators (`txcoord local status`). */
struct ReplicaStatus {
  /** "coordinator" or "shard<N>". */
  1: string group,
  2: i32 replica,
  /** "primary" (serving), "primary-reconciling", "primary-unleased", "backup" or "idle". */
  3: string role,
  /** The newest group epoch this replica has seen. */
  4: i64 epoch,
  /** The primary of the configuration this replica knows (-1 when none). */
  5: i32 primary,
  /** The ISR of that configuration, by replica id. */
  6: list<i32> isr,
  /** Its log: the last position, the last durable one, the last committed in the group. */
  7: i64 last_position,
  8: i64 durable_position,
  9: i64 commit_position,
  /** Primary only: each member's acknowledged position (replica id -> position). */
  10: map<i32, i64> member_match,
  /** The first position its log holds (every record before it is committed and dropped). */
  11: i64 log_start,
  /** Its configuration master: "static" or "etcd". */
  12: string config_master,
  /** Whether its last read of the configuration master succeeded. */
  13: bool config_master_reachable,
  /** How long ago its last successful read was, in ms (-1: never). */
  14: i64 config_master_read_age_ms,
  /**
   * A shard's serving primary: its transactions voted YES (or PRE-COMMIT, PRE-ABORT) whose
   * outcome it does not know yet. -1 on any other replica and on the coordinator.
   */
  15: i64 in_doubt = -1,
  /** A serving primary: the transactions its protocol core still drives (-1 elsewhere). */
  16: i64 live_transactions = -1,
}

service Peer {
  oneway void deliver(1: list<PeerMessage> messages),
  /** Replication traffic of the replica groups this node is a member of, batched per peer. */
  oneway void replicate(1: list<ReplicationMessage> messages),
  /** This replica's view of its group. */
  ReplicaStatus replica_status(),
}

// ------------------------------------------------------------------------------------------------
// Participant service (what clients and the coordinator call on a shard primary)
// ------------------------------------------------------------------------------------------------

/**
 * A shard primary. Clients that route by the shard map run their reads and writes here directly
 * (then name the shard in Coordinator.commit's touched_shards); the coordinator does the same for
 * clients that call Coordinator.read/write.
 */
service Participant {
  /**
   * Runs `ops` in order inside the transaction under strict two-phase locking (shared locks for
   * GET, exclusive for the others and for a GET with for_update) and returns one result per GET,
   * in order. Writes are buffered here until commit. A lock conflict (no-wait) or a failed ADD
   * aborts the transaction at this shard: TxnError(ABORTED, reason). Keys that do not belong to
   * this shard are InvalidRequest. A transaction id from an epoch older than the newest this shard
   * has seen is StaleEpoch.
   */
  list<OpResult> run(1: TxnId txn, 2: list<Op> ops)
      throws (1: TxnError error, 2: InvalidRequest invalid, 3: StaleEpoch stale,
              4: NotPrimary not_primary),

  /**
   * The state of each transaction as this shard knows it now, one per id, in order: for
   * operators, and for checking that every shard's outcome agrees with the coordinator's
   * decision (txbench does). UNKNOWN: never seen here, or never voted YES here and forgotten.
   * At most 100,000 ids per call.
   */
  list<TxnState> states(1: list<TxnId> txns)
      throws (1: InvalidRequest invalid, 2: NotPrimary not_primary),
}

// ------------------------------------------------------------------------------------------------
// Coordinator service (for clients)
// ------------------------------------------------------------------------------------------------

/**
 * The client API. Every call carries its
 * transaction's id; calls on one transaction are made one at a time. Reads and writes run at the shard primaries under strict two-phase locking, so
 * the committed history is serializable.
 */
service Coordinator {
  /**
   * Starts a transaction that will commit with `protocol` and returns its id.
   * `traceparent` is a W3C trace context, or empty (or absent on the wire) for none; the
   * transaction becomes one trace under it. (Thrift arguments cannot be `optional`.)
   * (Named begin_txn because "begin" is a reserved word of the Thrift compiler.)
   */
  TxnId begin_txn(1: Protocol protocol, 2: string traceparent)
      throws (1: InvalidRequest invalid, 3: NotPrimary not_primary),

  /**
   * Reads `key` inside the transaction (sees the transaction's own writes).
   * TxnError(ABORTED) if the transaction is or becomes aborted (e.g. LOCK_CONFLICT).
   */
  OpResult read(1: TxnId txn, 2: binary key)
      throws (1: TxnError error, 2: InvalidRequest invalid, 3: NotPrimary not_primary),

  /**
   * Writes `value` to `key` inside the transaction; buffered at the shard until commit.
   * TxnError(ABORTED) if the transaction is or becomes aborted.
   */
  void write(1: TxnId txn, 2: binary key, 3: binary value)
      throws (1: TxnError error, 2: InvalidRequest invalid, 3: NotPrimary not_primary),

  /**
   * Commits the transaction and returns the decided outcome: COMMITTED, or ABORTED with its
   * reason (a NO vote, a timeout, an earlier lock conflict). Returns only after the decision is
   * durable. Throws TxnError only with outcome UNKNOWN: the commit may or may not have happened;
   * do not retry it, ask `status`. `touched_shards` names the shards the client ran operations
   * on directly (Participant.run, routed by the shard map); shards reached through this service's
   * read/write are known already. Stock clients that only use read/write pass an empty list.
   */
  CommitResult commit(1: TxnId txn, 2: list<i32> touched_shards)
      throws (1: TxnError error, 2: InvalidRequest invalid, 3: NotPrimary not_primary),

  /**
   * Aborts the transaction. Idempotent: aborting an aborted transaction succeeds.
   * TxnError(COMMITTED) if it is already committed; TxnError(UNKNOWN) if a commit is in flight
   * and its decision could not be learned in time. `touched_shards` as for commit.
   */
  void abort(1: TxnId txn, 2: list<i32> touched_shards)
      throws (1: TxnError error, 2: InvalidRequest invalid, 3: NotPrimary not_primary),

  /**
   * What the coordinator knows about the transaction. Never guesses: UNKNOWN while undecided
   * (the coordinator never answers ABORTED and commits later).
   */
  TxnStatus status(1: TxnId txn)
      throws (1: InvalidRequest invalid, 3: NotPrimary not_primary),

  /**
   * One-shot transaction: begin, run `ops` in order, commit. Shards vote with their writes
   * (early prepare), so this is one round trip to each shard in the common case.
   * Returns COMMITTED or ABORTED with the reads; throws TxnError only with outcome UNKNOWN,
   * with `txn` set so the caller can ask `status`. `traceparent` as for begin_txn.
   */
  ExecuteResult execute(1: Protocol protocol, 2: list<Op> ops, 3: string traceparent)
      throws (1: TxnError error, 2: InvalidRequest invalid, 3: NotPrimary not_primary),

  /** The current shard map, for clients that route reads and writes themselves. */
  ShardMap shard_map(),
}
