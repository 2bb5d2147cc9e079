// The wire contract of txcoord (DESIGN.md sections 4 and 7).
//
// Two services share these types:
//   - Coordinator: what client services call (begin_txn/read/write/commit/abort/status/execute).
//     Stock Thrift clients in any language use it over framed transport with the binary
//     (default) or compact protocol.
//   - Participant: what a coordinator calls on a shard primary, and what a shard calls on another
//     shard during 3PC termination.
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

/** A participant of a transaction, as the coordinator records it. */
struct ParticipantRef {
  1: i32 shard,
  /** Whether the transaction wrote on this shard (a read-only participant votes READ_ONLY). */
  2: bool wrote,
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

// ------------------------------------------------------------------------------------------------
// Coordinator service (for clients)
// ------------------------------------------------------------------------------------------------

/**
 * The client API. Every call carries its transaction's id; calls on one transaction are made
 * one at a time. Reads and writes run at the shard primaries under strict two-phase locking, so
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
      throws (1: InvalidRequest invalid),

  /**
   * Reads `key` inside the transaction (sees the transaction's own writes).
   * TxnError(ABORTED) if the transaction is or becomes aborted (e.g. LOCK_CONFLICT).
   */
  OpResult read(1: TxnId txn, 2: binary key)
      throws (1: TxnError error, 2: InvalidRequest invalid),

  /**
   * Writes `value` to `key` inside the transaction; buffered at the shard until commit.
   * TxnError(ABORTED) if the transaction is or becomes aborted.
   */
  void write(1: TxnId txn, 2: binary key, 3: binary value)
      throws (1: TxnError error, 2: InvalidRequest invalid),

  /**
   * Commits the transaction and returns the decided outcome: COMMITTED, or ABORTED with its
   * reason (a NO vote, a timeout, an earlier lock conflict). Returns only after the decision is
   * durable. Throws TxnError only with outcome UNKNOWN: the commit may or may not have happened;
   * do not retry it, ask `status`.
   */
  CommitResult commit(1: TxnId txn)
      throws (1: TxnError error, 2: InvalidRequest invalid),

  /**
   * Aborts the transaction. Idempotent: aborting an aborted transaction succeeds.
   * TxnError(COMMITTED) if it is already committed; TxnError(UNKNOWN) if a commit is in flight
   * and its decision could not be learned in time.
   */
  void abort(1: TxnId txn)
      throws (1: TxnError error, 2: InvalidRequest invalid),

  /**
   * What the coordinator knows about the transaction. Never guesses: UNKNOWN while undecided
   * (the coordinator never answers ABORTED and commits later).
   */
  TxnStatus status(1: TxnId txn)
      throws (1: InvalidRequest invalid),

  /**
   * One-shot transaction: begin, run `ops` in order, commit. Shards vote with their writes
   * (early prepare), so this is one round trip to each shard in the common case.
   * Returns COMMITTED or ABORTED with the reads; throws TxnError only with outcome UNKNOWN,
   * with `txn` set so the caller can ask `status`. `traceparent` as for begin_txn.
   */
  ExecuteResult execute(1: Protocol protocol, 2: list<Op> ops, 3: string traceparent)
      throws (1: TxnError error, 2: InvalidRequest invalid),

  /** The current shard map, for clients that route reads and writes themselves. */
  ShardMap shard_map(),
}

// ------------------------------------------------------------------------------------------------
// Participant service (coordinator -> shard, and shard -> shard for 3PC termination)
// ------------------------------------------------------------------------------------------------

/**
 * Phase one: asks a shard to prepare (vote on) a transaction.
 * `epoch` is the sender's coordinator epoch now, which is newer than txn.epoch after a failover.
 */
struct PrepareRequest {
  1: TxnId txn,
  2: i64 epoch,
  3: Protocol protocol,
  /**
   * Every shard taking part, this one included: the coordinator's identity and the peers are
   * logged with PREPARED so recovery and 3PC termination know whom to ask.
   */
  4: list<i32> participants,
  /**
   * This shard is the only participant: commit in one phase with no coordinator record, and
   * report the outcome in PrepareReply.one_phase_outcome.
   */
  5: bool one_phase,
  /**
   * Early prepare (from `execute`): run these ops, then vote. Empty when the ops already ran
   * through `read`/`write`.
   */
  6: list<Op> ops,
}

/** A participant's vote. A YES is sent only after PREPARED is durable (persist before send). */
struct PrepareReply {
  1: Vote vote,
  /** Why the vote is NO; NONE otherwise. */
  2: AbortReason reason,
  /** One result per GET in PrepareRequest.ops, in order. */
  3: list<OpResult> reads,
  /** one_phase only: COMMITTED or ABORTED, the shard's final outcome; UNKNOWN otherwise. */
  4: Outcome one_phase_outcome,
}

/** The decision of phase two (commit or abort). */
struct DecisionRequest {
  1: TxnId txn,
  /** The sender's coordinator epoch. */
  2: i64 epoch,
  /** true for commit, false for abort; must match the method it is sent to. */
  3: bool commit,
}

/**
 * 3PC: asks a shard to log PRE_COMMITTED. `ballot` is 0 from the coordinator and the recovery
 * leader's ballot during termination.
 */
struct PreCommitRequest {
  1: TxnId txn,
  2: i64 epoch,
  3: i64 ballot,
}

/** A participant's acknowledgement of pre_commit, commit, abort or term_accept. */
struct Ack {
  /** The request was applied (durably), or had already been. */
  1: bool ok,
  /** The participant's state for the transaction after handling the request. */
  2: TxnState state,
  /** The highest termination ballot the participant has promised; when !ok, the sender lost. */
  3: i64 promised_ballot,
}

/**
 * Asks a participant for its state of a transaction: used by coordinator recovery and, with a
 * ballot, as phase one of 3PC termination (the participant promises to ignore lower ballots).
 */
struct StateQuery {
  1: TxnId txn,
  2: i64 epoch,
  /** The asking recovery leader's ballot; 0 for a plain query that promises nothing. */
  3: i64 ballot,
  /**
   * If the participant has not prepared the transaction (ACTIVE or UNKNOWN), abort it first so it
   * can never vote YES later; the reply then says ABORTED.
   */
  4: bool abort_if_unprepared,
}

/** A participant's answer to query_state. */
struct StateReply {
  1: TxnState state,
  /** The ballot at which the current PRE_COMMITTED / PRE_ABORTED state was accepted (0 if none). */
  2: i64 accepted_ballot,
  /** The highest ballot promised so far, after handling this query. */
  3: i64 promised_ballot,
  /** The query's ballot was promised (it was not lower than any earlier promise). */
  4: bool ok,
}

/**
 * 3PC termination, phase two: the recovery leader proposes its decision at `ballot`. The
 * participant accepts unless it promised a higher ballot, logging PRE_COMMITTED (commit) or
 * PRE_ABORTED (abort) with the ballot.
 */
struct TermAccept {
  1: TxnId txn,
  2: i64 ballot,
  3: bool commit,
}

/**
 * A shard primary's transaction interface. A request that carries an epoch is rejected with
 * StaleEpoch, changing nothing, if the shard knows a newer one; term_accept is fenced by its
 * ballot instead. Every method is idempotent: a retried request gets the same answer.
 */
service Participant {
  /** Phase one: prepare and vote (see PrepareRequest and PrepareReply). */
  PrepareReply prepare(1: PrepareRequest req)
      throws (1: StaleEpoch stale, 2: InvalidRequest invalid),

  /** 3PC: log PRE_COMMITTED, then ack. */
  Ack pre_commit(1: PreCommitRequest req)
      throws (1: StaleEpoch stale),

  /** Phase two: apply the commit decision, then ack. */
  Ack commit(1: DecisionRequest req)
      throws (1: StaleEpoch stale),

  /** Phase two: apply the abort decision (an unknown transaction is already aborted), ack. */
  Ack abort(1: DecisionRequest req)
      throws (1: StaleEpoch stale),

  /** The participant's state of a transaction; with a ballot, a termination promise. */
  StateReply query_state(1: StateQuery q)
      throws (1: StaleEpoch stale),

  /** 3PC termination: accept the recovery leader's decision at its ballot. */
  Ack term_accept(1: TermAccept req),

  /**
   * Reads `key` inside the transaction, locking it (strict two-phase locking).
   * TxnError(ABORTED) if the transaction is or becomes aborted here (e.g. LOCK_CONFLICT).
   */
  OpResult read(1: TxnId txn, 2: i64 epoch, 3: binary key)
      throws (1: TxnError error, 2: InvalidRequest invalid, 3: StaleEpoch stale),

  /** Locks `key` and buffers the write until commit. Errors as for `read`. */
  void write(1: TxnId txn, 2: i64 epoch, 3: binary key, 4: binary value)
      throws (1: TxnError error, 2: InvalidRequest invalid, 3: StaleEpoch stale),
}
