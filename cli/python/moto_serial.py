"""moto's server on loopback, made to hold up like DynamoDB under steady use.

What this launcher changes in stock moto 5.2.5 (all of it off with --stock, which is
only for measuring the difference):

* DynamoDB requests are serialized: every request whose X-Amz-Target starts with
  "DynamoDB" (Streams included) runs under one lock, response body included. Stock moto
  loses updates under concurrent TransactWriteItems. Everything else (SQS long polls
  above all) stays concurrent.
* TransactWriteItems costs the items it touches. Stock moto deep-copies the whole table,
  stream history included, once per item of every transaction, and swaps the copy in on
  a rollback (which also strands stream readers on the old shard). Here the same code
  path keeps an undo journal of the touched items and the stream length instead: the
  result is still all-or-nothing and the conditions and cancellation reasons are the
  ones stock moto computes.
* Stream records are trimmed as DynamoDB trims them: after 24 hours, and once a record
  has been read by GetRecords and more than KEEP_READ newer records exist. A record no
  reader has reached is only dropped past 24 hours or past HARD_CAP unread records (then
  a warning is logged). Trimmed sequence numbers stay valid; reading before the trim
  horizon answers TrimmedDataAccessException, as AWS does. Shard iterators expire after
  15 minutes (ExpiredIteratorException), so they do not pile up either.
* Query reads the partition it names. Stock moto lists and sorts the whole table for
  every Query; here a base-table query lists only the items of its partition that its
  sort-key condition admits, and an index query skips the sort of the whole table (its
  matches are still sorted).
* TTL: items whose TTL attribute (epoch seconds) has passed are deleted by a sweeper
  every --ttl-sweep seconds (AWS: within minutes to days), with a REMOVE stream record;
  as on AWS, values more than five years in the past are ignored. Empty partitions that
  moto leaves behind after deletes and misses are dropped too.

* TransactWriteItems honours ClientRequestToken as DynamoDB does: a repeat of a
  successful transaction with the same token (within 10 minutes) answers success again
  without writing; the same token with a different request answers
  IdempotentParameterMismatchException. The SDK retries a 500 with the same token, so a
  transaction that was applied but answered an error is not applied twice.
* Faults on demand (off unless asked for; --faults SPEC or POST /_kobo/faults?spec=SPEC),
  seeded so a run's sequence of faults is reproducible. SPEC is comma separated
  key=value: seed=N, conflict=P (TransactWriteItems cancelled with reason
  TransactionConflict on one of its items; Put/Update/DeleteItem answer
  TransactionConflictException), throttle=P (any data-plane call answers
  ThrottlingException or ProvisionedThroughputExceededException), error_after_write=P
  (a write is applied, then answered 500 InternalServerError, as DynamoDB can),
  error_before_write=P (a write answers 500 InternalServerError without being applied:
  the caller cannot tell it from error_after_write),
  ops=A+B (only these operations, e.g. ops=TransactWriteItems), skip=N (the first N
  requests that could fault pass untouched: a fault placed at a known point). Faults
  never touch control-plane calls (CreateTable, DescribeTable, ...) or Streams. Each
  probability is per request attempt; the counts are in /_kobo/stats.

* IAM on demand (POST /_kobo/iam): creates one IAM user per function with exactly the
  policy document given and an access key for it, an operator user whose access key is
  the local stack's default ("kobo-local", allowed everything), and from then on every
  request is authenticated (SigV4) and authorized as AWS does it: DynamoDB per item of a
  transaction or batch (PutItem, UpdateItem, DeleteItem, ConditionCheckItem, GetItem) on
  the table or index ARN it names, Streams on the stream ARN, Secrets Manager on the
  secret's ARN, SQS on the queue's ARN. A missing permission answers AccessDenied, as a
  deployed function would see it.

* DynamoDB data-plane results (GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan,
  the batch and transaction calls) are written as JSON directly. Stock moto walks the
  botocore output model for every member of every attribute value (most of its time per
  request under load); the wire form of these results is plain JSON, with binary values
  in base64. --check-results serializes every such result both ways and answers 500 when they
  differ, with the two logged (the tests' own emulator runs with it). moto's list of
  its own modules, which it reads from disk on every request, is read once.

Control endpoints (loopback only, not AWS APIs):

* GET  /_kobo/stats        RSS, items, stream records and iterators, and calls and time
                           spent per DynamoDB operation, as JSON.
* POST /_kobo/sweep[?now=] runs the TTL sweep and stream trim now, with an injected
                           clock (epoch seconds) when given, and answers what it removed.
* POST /_kobo/faults?spec= sets the faults (empty spec: none) and answers them.
* POST /_kobo/iam          {"users": {name: policy document}} creates the users, answers
                           {name: {"access_key_id", "secret_access_key"}}, and enforces IAM.

Prints "PORT <n>" on stdout once it listens (port 0 picks a free one), and exits when
its parent process goes away so an interrupted test run leaves nothing behind.
"""

import argparse
import collections
import copy
import hashlib
import io
import json
import logging
import os
import random
import sys
import threading
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

# DynamoDB Streams keeps records for 24 hours.
RETENTION_SECS = 24 * 3600
# Records already read that are kept for late readers.
KEEP_READ = 1000
# Unread records kept at most (a reader this far behind has stopped reading).
HARD_CAP = 50000
# Trim when this many records past KEEP_READ have piled up (not one record at a time).
TRIM_BATCH = 1000
# Shard iterators are valid for 15 minutes on AWS.
ITERATOR_TTL_SECS = 15 * 60
ITERATOR_CAP = 10000
# AWS ignores TTL values more than five years in the past.
TTL_MAX_AGE_SECS = 5 * 365 * 24 * 3600

LOCK = threading.Lock()
# Per DynamoDB operation: [calls, seconds spent under the lock].
OPS = collections.defaultdict(lambda: [0, 0.0])


def log(msg: str) -> None:
    sys.stderr.write(f"moto_serial: {msg}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------------------
# DynamoDB results written directly
# --------------------------------------------------------------------------------------

DIRECT_OPS = {
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
    "BatchWriteItem", "TransactWriteItems", "TransactGetItems",
}


class ResultMismatch(Exception):
    pass


def wire(value):
    """The JSON wire form of a result moto built with dynamo_to_dict: members that are
    None left out, binary values in base64, timestamps in epoch seconds."""
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [wire(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "timestamp") and callable(value.timestamp):
        return value.timestamp()
    return value


def install_module_list_cache() -> None:
    # moto lists its own package directory on every request to route it by host; the
    # list never changes while the server runs.
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def install_direct_results(check: bool) -> None:
    from moto.dynamodb.responses import DynamoResult

    modelled = DynamoResult.execute_result

    def execute_result(self, context):
        if context.operation_model.name not in DIRECT_OPS:
            return modelled(self, context)
        body = json.dumps(wire(self.result))
        if check:
            _, _, want = modelled(self, context)
            if json.loads(want) != json.loads(body):
                log(f"result mismatch in {context.operation_model.name}: modelled {want} direct {body}")
                raise ResultMismatch(context.operation_model.name)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    DynamoResult.execute_result = execute_result


# --------------------------------------------------------------------------------------
# TransactWriteItems with an undo journal
# --------------------------------------------------------------------------------------


def install_journaled_transactions() -> None:
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.comparisons import get_filter_expression as get_filter
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType

    def rollback(journal, stream_lengths) -> None:
        # Undo in reverse order: every touched item back to its image before the
        # transaction (or gone, if it did not exist), then the stream back to its length.
        for table, key, before in reversed(journal):
            h = DynamoType(key[table.hash_key_attr])
            if table.range_key_attr is not None:
                r = DynamoType(key[table.range_key_attr])
                bucket = table.items.get(h)
                if before is None:
                    if bucket is not None:
                        bucket.pop(r, None)
                        if not bucket:
                            table.items.pop(h, None)
                else:
                    table.items[h][r] = before
            else:
                if before is None:
                    table.items.pop(h, None)
                else:
                    table.items[h] = before
        for table, length in stream_lengths.items():
            if table.stream_shard is not None:
                del table.stream_shard.items[length:]

    def transact_write_items(self, transact_items):
        # Stock moto 5.2.5's algorithm, item for item, with the table copy replaced by
        # a journal of the items it touches.
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        stream_lengths = {}
        for item in transact_items:
            _, op = next(iter(item.items()))
            table_name = op.get("TableName")
            if table_name and table_name in self.tables:
                table = self.tables[table_name]
                if table.stream_shard is not None and table not in stream_lengths:
                    stream_lengths[table] = len(table.stream_shard.items)
        journal = []
        target_items = set()

        def check_unicity(table_name, key):
            item = (str(table_name), str(dict(sorted(key.items()))))
            if item in target_items:
                raise MultipleTransactionsException()
            target_items.add(item)

        errors = []
        for item in transact_items:
            original_item = None
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                expression_attribute_names = op.get("ExpressionAttributeNames")
                expression_attribute_values = op.get("ExpressionAttributeValues")
                return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")
                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                check_unicity(table_name, key)
                current = self.get_item(table_name, key)
                if op_type != "ConditionCheck":
                    # moto updates items in place: keep a copy of the image before.
                    journal.append((self.get_table(table_name), key, copy.deepcopy(current)))
                if condition_expression is not None:
                    condition_op = get_filter(
                        condition_expression, expression_attribute_names, expression_attribute_values
                    )
                    if not condition_op.expr(current):
                        if return_values_on_condition_check_failure == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                conditions = {
                    "condition_expression": condition_expression,
                    "expression_attribute_names": expression_attribute_names,
                    "expression_attribute_values": expression_attribute_values,
                }
                if op_type == "Put":
                    self.put_item(table_name, op["Item"], **conditions)
                elif op_type == "Delete":
                    self.delete_item(table_name, key, **conditions)
                elif op_type == "Update":
                    self.update_item(table_name, key, update_expression=op["UpdateExpression"], **conditions)
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                rollback(journal, stream_lengths)
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))
            except Exception as e:  # noqa: BLE001 - as stock moto: every other failure is a reason
                errors.append((type(e).__name__, str(e), original_item))
        if any(code is not None for code, _, _ in errors):
            rollback(journal, stream_lengths)
            raise TransactionCanceledException(errors)

    DynamoDBBackend.transact_write_items = transact_write_items


# --------------------------------------------------------------------------------------
# Queries that read the partition they name
# --------------------------------------------------------------------------------------


def install_partition_queries() -> None:
    """Stock moto answers every Query by listing and sorting the whole table
    (Table.all_items), then filtering. A base-table query here lists only the items of the
    partition it names that its sort-key condition admits; an index query lists every item unsorted (its candidates are sorted after
    filtering anyway). Results, order and pagination are stock moto's own code."""
    from moto.dynamodb.models.table import Table

    stock_query = Table.query
    stock_all_items = Table.all_items

    def all_items(self):
        hint = getattr(self, "kobo_hint", None)
        if hint is None:
            return stock_all_items(self)
        if hint[0] == "partition":
            bucket = self.items.get(hint[1])
            if bucket is None:
                return []
            if not self.range_key_attr:
                return [bucket]
            comparison, objs = hint[2], hint[3]
            if not comparison:
                return list(bucket.values())
            # Only the sort keys the key condition admits (stock applies it again), plus
            # the partition's first and last items: stock answers a LastEvaluatedKey when
            # any item follows the page, matching or not, and so must this.
            values = bucket.values()
            if comparison == "BEGINS_WITH" and objs and objs[0].type == "S":
                prefix = objs[0].value
                picked = [i for i in values if i.range_key.type == "S" and i.range_key.value.startswith(prefix)]
            else:
                picked = [i for i in values if i.range_key.compare(comparison, objs)]
            if bucket:
                order = lambda i: i.range_key.cast_value  # noqa: E731 - one sort key type per table
                ids = {id(i) for i in picked}
                picked.extend({id(i): i for i in (min(values, key=order), max(values, key=order)) if id(i) not in ids}.values())
            return picked
        out = []
        for bucket in self.items.values():
            if self.range_key_attr:
                out.extend(bucket.values())
            else:
                out.append(bucket)
        return out

    def query(self, hash_key, *args, **kwargs):
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name:
            self.kobo_hint = ("index",)
        elif hash_key is not None:
            comparison, objs = (args[0], args[1]) if len(args) > 1 else (None, [])
            conditions = kwargs.get("range_key_conditions") or []
            on_sort_key = all(c[0] == self.range_key_attr for c in conditions) and len(conditions) <= 1
            self.kobo_hint = ("partition", hash_key, comparison if on_sort_key else None, objs)
        try:
            return stock_query(self, hash_key, *args, **kwargs)
        finally:
            self.kobo_hint = None

    Table.all_items = all_items
    Table.query = query


# --------------------------------------------------------------------------------------
# Streams: trimming and iterator expiry
# --------------------------------------------------------------------------------------


def install_stream_trimming() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.models.table import StreamRecord, StreamShard
    from moto.dynamodbstreams import models as streams

    def base(shard) -> int:
        return shard.starting_sequence_number + getattr(shard, "kobo_trimmed", 0)

    def add(self, old, new):
        # As stock moto (sequence numbers count up from the shard's start), plus the
        # creation time for retention. Lambda event source mappings in moto itself are
        # not used by the local stack (it polls the stream like the relay's mapping).
        t = self.table.stream_specification["StreamViewType"]
        event_name = "INSERT" if old is None else ("REMOVE" if new is None else "MODIFY")
        seq = base(self) + len(self.items)
        record = StreamRecord(self.table, t, event_name, old, new, seq)
        record.kobo_created = time.time()
        self.items.append(record)

    def get(self, start, quantity):
        first = base(self)
        if start < first:
            raise JsonRESTError(
                "TrimmedDataAccessException",
                "The operation attempted to read past the oldest stream record in a shard.",
            )
        index = start - first
        records = self.items[index : index + quantity]
        self.kobo_read_upto = max(getattr(self, "kobo_read_upto", 0), start + len(records))
        return [r.to_json() for r in records]

    StreamShard.add = add
    StreamShard.get = get

    # GetRecords answers up to a thousand records with both images; moto's generic
    # response serializer walks each of them through the service model, which costs more
    # than everything else the local stack asks of moto. The records already are the
    # wire format but for one timestamp, so they are written out directly.
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    def epoch(value):
        if hasattr(value, "timestamp"):
            return value.timestamp()
        raise TypeError(f"cannot encode {type(value).__name__}")

    def get_records(self):
        limit = self._get_param("Limit")
        result = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
        return json.dumps(result, default=epoch)

    DynamoDBStreamsHandler.get_records = get_records

    stock_iterator_init = streams.ShardIterator.__init__

    def iterator_init(self, streams_backend, stream_shard, shard_iterator_type, sequence_number=None):
        stock_iterator_init(self, streams_backend, stream_shard, shard_iterator_type, sequence_number)
        if shard_iterator_type == "TRIM_HORIZON":
            self.sequence_number = base(stream_shard)
        elif shard_iterator_type == "LATEST":
            self.sequence_number = base(stream_shard) + len(stream_shard.items)

    streams.ShardIterator.__init__ = iterator_init

    class Iterators(collections.OrderedDict):
        """Shard iterators by ARN, expiring after 15 minutes, at most ITERATOR_CAP."""

        def __setitem__(self, arn, iterator):
            now = time.monotonic()
            super().__setitem__(arn, (now, iterator))
            while self:
                oldest_arn, (born, _) = next(iter(self.items()))
                if now - born > ITERATOR_TTL_SECS or len(self) > ITERATOR_CAP:
                    super().__delitem__(oldest_arn)
                else:
                    break

        def __getitem__(self, arn):
            entry = self.get(arn)
            if entry is None or time.monotonic() - entry[0] > ITERATOR_TTL_SECS:
                raise JsonRESTError(
                    "ExpiredIteratorException", "The shard iterator has expired or does not exist."
                )
            return entry[1]

    stock_backend_init = streams.DynamoDBStreamsBackend.__init__

    def backend_init(self, region_name, account_id):
        stock_backend_init(self, region_name, account_id)
        self.shard_iterators = Iterators()

    streams.DynamoDBStreamsBackend.__init__ = backend_init


def all_tables():
    from moto.dynamodb.models import dynamodb_backends

    for regions in list(dynamodb_backends.values()):
        for backend in list(regions.values()):
            yield from list(backend.tables.values())


def trim_stream(table, now: float) -> int:
    shard = table.stream_shard
    if shard is None:
        return 0
    items = shard.items
    first = shard.starting_sequence_number + getattr(shard, "kobo_trimmed", 0)
    read_upto = getattr(shard, "kobo_read_upto", 0)
    n = 0
    dropped_unread = 0
    while n < len(items):
        remaining = len(items) - n
        seq = first + n
        expired = now - getattr(items[n], "kobo_created", now) > RETENTION_SECS
        read_and_old = seq < read_upto and remaining > KEEP_READ
        over_cap = remaining > HARD_CAP
        if not (expired or read_and_old or over_cap):
            break
        if seq >= read_upto and not expired:
            dropped_unread += 1
        n += 1
    if n:
        del items[:n]
        shard.kobo_trimmed = getattr(shard, "kobo_trimmed", 0) + n
    if dropped_unread:
        log(f"stream of {table.name}: {dropped_unread} unread records dropped past the {HARD_CAP} cap")
    return n


def trim_if_due() -> None:
    # Cheap check after each DynamoDB request: trim in batches, not one record at a time.
    for table in all_tables():
        shard = table.stream_shard
        if shard is not None and len(shard.items) > KEEP_READ + TRIM_BATCH:
            trim_stream(table, time.time())


def ttl_number(item, attribute):
    value = item.attrs.get(attribute)
    if value is None or value.type != "N":
        return None
    try:
        return Decimal(value.value)
    except (InvalidOperation, TypeError):
        return None


def sweep(now: float) -> dict:
    """Deletes TTL-expired items, drops empty partitions and trims streams."""
    expired = 0
    trimmed = 0
    for table in all_tables():
        if table.ttl.get("TimeToLiveStatus") == "ENABLED" and table.ttl.get("AttributeName"):
            attribute = table.ttl["AttributeName"]
            doomed = []
            for item in table.all_items():
                at = ttl_number(item, attribute)
                if at is not None and now - TTL_MAX_AGE_SECS <= at <= now:
                    doomed.append(item)
            for item in doomed:
                table.delete_item(item.hash_key, item.range_key)
            expired += len(doomed)
        if table.range_key_attr is not None:
            for h in [h for h, bucket in table.items.items() if not bucket]:
                del table.items[h]
        trimmed += trim_stream(table, now)
    return {"expired": expired, "trimmed": trimmed}


def sweeper(interval: float) -> None:
    while True:
        time.sleep(interval)
        try:
            with LOCK:
                sweep(time.time())
        except Exception as e:  # noqa: BLE001 - the sweeper must outlive one bad pass
            log(f"sweep failed: {e!r}")


# --------------------------------------------------------------------------------------
# Stats
# --------------------------------------------------------------------------------------


def proc_status(field: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def stats() -> dict:
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    tables = {}
    for table in all_tables():
        shard = table.stream_shard
        tables[table.name] = {
            "items": sum(len(b) if table.range_key_attr else 1 for b in table.items.values()),
            "partitions": len(table.items),
            "stream_records": len(shard.items) if shard else 0,
            "stream_trimmed": getattr(shard, "kobo_trimmed", 0) if shard else 0,
        }
    iterators = 0
    for regions in list(dynamodbstreams_backends.values()):
        for backend in list(regions.values()):
            iterators += len(backend.shard_iterators)
    return {
        "rss_bytes": proc_status("VmRSS"),
        "peak_rss_bytes": proc_status("VmHWM"),
        "tables": tables,
        "shard_iterators": iterators,
        "ops": {name: {"calls": c, "ms": round(t * 1000, 1)} for name, (c, t) in sorted(OPS.items())},
        "faults": FAULTS.describe(),
        "client_tokens": len(TOKENS),
    }


# --------------------------------------------------------------------------------------
# IAM
# --------------------------------------------------------------------------------------

OPERATOR_KEY = "kobo-local"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
TX_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def request_json(handler) -> dict:
    body = handler.body
    if isinstance(body, dict):
        return body
    try:
        parsed = json.loads(body or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def dynamodb_permissions(handler, op: str) -> list:
    """The (action, resource) pairs AWS authorizes for one DynamoDB request."""
    body = request_json(handler)

    def table_arn(name):
        return f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/{name}"

    if op in ("TransactWriteItems", "TransactGetItems"):
        pairs = []
        for item in body.get("TransactItems", []):
            for kind, spec in item.items():
                pairs.append((TX_ACTIONS.get(kind, op), table_arn(spec.get("TableName", "*"))))
        return pairs or [(op, "*")]
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [(op, table_arn(t)) for t in body.get("RequestItems", {})] or [(op, "*")]
    table = body.get("TableName")
    if table is None:
        return [(op, "*")]
    if op in ("Query", "Scan") and body.get("IndexName"):
        return [(op, f"{table_arn(table)}/index/{body['IndexName']}")]
    return [(op, table_arn(table))]


def stream_permissions(handler, op: str) -> list:
    body = request_json(handler)
    arn = body.get("StreamArn") or (body.get("ShardIterator") or "").split("|")[0] or "*"
    return [(op, arn)]


def authorize(handler, pairs) -> None:
    """Authenticates the request once and authorizes every (action, resource) pair."""
    from moto.iam.access_control import IAMRequest
    from urllib.parse import urlparse

    parsed = urlparse(handler.uri)
    path = handler.raw_path + ("?" + parsed.query if parsed.query else "")
    checked_signature = False
    for action, resource in pairs:
        request = IAMRequest(
            account_id=handler.current_account,
            method=handler.method,
            path=path,
            data=handler.data,
            body=handler.raw_body,
            headers=handler.headers,
            action=action,
        )
        if not checked_signature:
            request.check_signature()
            checked_signature = True
        request.check_action_permitted(resource)


def json_denial(body: bytes):
    """moto answers an IAM denial in XML whatever the protocol; a JSON-protocol client
    (DynamoDB, Secrets Manager, SQS) expects AccessDeniedException in JSON."""
    if not body.lstrip().startswith(b"<?xml") or b"<Code>AccessDenied" not in body and b"InvalidClientTokenId" not in body and b"SignatureDoesNotMatch" not in body:
        return None
    text = body.decode("utf-8", "replace")
    code = text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else "AccessDenied"
    message = text.split("<Message>", 1)[1].split("</Message>", 1)[0] if "<Message>" in text else code
    kind = {"AccessDenied": "AccessDeniedException", "InvalidClientTokenId": "UnrecognizedClientException"}.get(code, code)
    data = json.dumps({"__type": f"com.amazon.coral.service#{kind}", "message": message}).encode()
    return [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))], data


def install_iam() -> None:
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.secretsmanager.responses import SecretsManagerResponse

    def enforced() -> bool:
        return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT

    def dynamodb_auth(self, resource="*"):
        if enforced():
            authorize(self, dynamodb_permissions(self, self._get_action()))

    def streams_auth(self, resource="*"):
        if enforced():
            authorize(self, stream_permissions(self, self._get_action()))

    def secret_resource(self):
        secret_id = self._get_param("SecretId") or ""
        if secret_id.startswith("arn:"):
            return secret_id
        try:
            return self.backend.secrets[secret_id].arn
        except Exception:  # noqa: BLE001 - unknown secret: the action itself answers
            return "*"

    DynamoHandler._authenticate_and_authorize_normal_action = dynamodb_auth
    DynamoDBStreamsHandler._authenticate_and_authorize_normal_action = streams_auth
    SecretsManagerResponse._determine_resource = secret_resource


def create_iam_users(users: dict) -> dict:
    """Creates the users with their policies and keys, and turns enforcement on."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.models import iam_backends

    backend = iam_backends["123456789012"]["aws"]
    out = {}

    def user_with(name: str, policy: dict):
        if name in backend.users:
            backend.delete_user_policy(name, "kobo") if "kobo" in backend.users[name].policies else None
        else:
            backend.create_user("us-east-1", name)
        backend.put_user_policy(name, "kobo", json.dumps(policy))
        user = backend.users[name]
        if not user.access_keys:
            backend.create_access_key(name)
        return user.access_keys[0]

    operator = user_with("kobo-operator", ADMIN_POLICY)
    operator.access_key_id = OPERATOR_KEY
    operator.secret_access_key = OPERATOR_KEY
    for name, policy in users.items():
        key = user_with(name, policy)
        out[name] = {"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key}
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    return out


# --------------------------------------------------------------------------------------
# Faults and client request tokens
# --------------------------------------------------------------------------------------

DATA_READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
SINGLE_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
WRITES = SINGLE_WRITES | {"BatchWriteItem", "TransactWriteItems"}
# DynamoDB remembers a transaction's ClientRequestToken for 10 minutes.
TOKEN_TTL_SECS = 600
TOKEN_CAP = 20000


class Faults:
    """Seeded fault decisions; used under LOCK, so the sequence is reproducible."""

    KINDS = ("conflict", "throttle", "error_after_write", "error_before_write")

    def __init__(self, spec: str):
        self.spec = spec.strip()
        self.p = {k: 0.0 for k in self.KINDS}
        self.ops = None
        self.skip = 0
        seed = 0
        for part in filter(None, (x.strip() for x in self.spec.split(","))):
            key, _, value = part.partition("=")
            key = key.strip()
            if key == "seed":
                seed = int(value)
            elif key == "ops":
                self.ops = set(filter(None, value.split("+")))
            elif key == "skip":
                self.skip = int(value)
            elif key in self.p:
                prob = float(value)
                if not 0.0 <= prob <= 1.0:
                    raise ValueError(f"{key}={value}: a probability is between 0 and 1")
                self.p[key] = prob
            else:
                raise ValueError(f"unknown fault {key!r} (known: seed, {', '.join(self.KINDS)})")
        self.seed = seed
        self.rng = random.Random(seed)
        self.injected = collections.Counter()

    def active(self) -> bool:
        return any(v > 0 for v in self.p.values())

    def applies(self, op: str) -> bool:
        """Whether `op` may fault now (counting down `skip`)."""
        if not self.active() or (self.ops is not None and op not in self.ops):
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        return True

    def roll(self, kind: str) -> bool:
        p = self.p[kind]
        return p > 0 and self.rng.random() < p

    def describe(self) -> dict:
        return {
            "spec": self.spec,
            "seed": self.seed,
            "p": self.p,
            "ops": sorted(self.ops) if self.ops is not None else None,
            "skip_left": self.skip,
            "injected": dict(self.injected),
        }


FAULTS = Faults("")
# ClientRequestToken -> (request digest, response status, headers, body, when).
TOKENS: "collections.OrderedDict[str, tuple]" = collections.OrderedDict()


def error_response(start_response, status: str, kind: str, message: str, extra=None):
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": message}
    if extra:
        body.update(extra)
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))])
    return [data]


def injected_fault(op: str, body: bytes, start_response):
    """A fault answered instead of running the request, or None to run it."""
    if FAULTS.roll("throttle"):
        kind = FAULTS.rng.choice(["ThrottlingException", "ProvisionedThroughputExceededException"])
        FAULTS.injected["throttle"] += 1
        return error_response(start_response, "400 Bad Request", kind, "Rate of requests exceeds the allowed throughput.")
    if op in WRITES and op != "BatchWriteItem" and FAULTS.roll("conflict"):
        FAULTS.injected["conflict"] += 1
        if op == "TransactWriteItems":
            try:
                n = len(json.loads(body or b"{}").get("TransactItems", []))
            except ValueError:
                n = 1
            n = max(n, 1)
            which = FAULTS.rng.randrange(n)
            reasons = [
                {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                if i == which
                else {"Code": "None"}
                for i in range(n)
            ]
            codes = ", ".join(r["Code"] for r in reasons)
            return error_response(
                start_response,
                "400 Bad Request",
                "TransactionCanceledException",
                f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                {"CancellationReasons": reasons},
            )
        return error_response(
            start_response,
            "400 Bad Request",
            "TransactionConflictException",
            "Transaction is ongoing for the item",
        )
    if op in WRITES and FAULTS.roll("error_before_write"):
        FAULTS.injected["error_before_write"] += 1
        return error_response(start_response, "500 Internal Server Error", "InternalServerError", "Internal server error")
    return None


def remembered_token(token: str, digest: str, start_response):
    """The answer to a repeated ClientRequestToken, or None when it is new."""
    now = time.time()
    while TOKENS:
        oldest = next(iter(TOKENS.values()))
        if now - oldest[4] <= TOKEN_TTL_SECS and len(TOKENS) <= TOKEN_CAP:
            break
        TOKENS.popitem(last=False)
    seen = TOKENS.get(token)
    if seen is None:
        return None
    if seen[0] != digest:
        return error_response(
            start_response,
            "400 Bad Request",
            "IdempotentParameterMismatchException",
            "The request uses the same client token as a previous, but non-identical request.",
        )
    start_response(seen[1], seen[2])
    return [seen[3]]


# --------------------------------------------------------------------------------------
# WSGI
# --------------------------------------------------------------------------------------


class Launcher:
    """WSGI middleware: one DynamoDB request at a time, control endpoints, others untouched."""

    def __init__(self, app, patched: bool):
        self.app = app
        self.patched = patched

    def control(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        with LOCK:
            if path == "/_kobo/stats" and method == "GET":
                body = stats()
            elif path == "/_kobo/sweep" and method == "POST" and self.patched:
                query = parse_qs(environ.get("QUERY_STRING", ""))
                now = float(query["now"][0]) if "now" in query else time.time()
                body = sweep(now)
            elif path == "/_kobo/faults" and method == "POST" and self.patched:
                global FAULTS
                query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
                try:
                    FAULTS = Faults(query.get("spec", [""])[0])
                except ValueError as e:
                    start_response("400 Bad Request", [("Content-Type", "application/json")])
                    return [json.dumps({"error": str(e)}).encode()]
                body = FAULTS.describe()
            elif path == "/_kobo/iam" and method == "POST":
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                    request = json.loads(environ["wsgi.input"].read(length) or b"{}")
                    body = create_iam_users(request.get("users", {}))
                except Exception as e:  # noqa: BLE001 - a bad policy is the caller's error
                    start_response("400 Bad Request", [("Content-Type", "application/json")])
                    return [json.dumps({"error": repr(e)}).encode()]
            else:
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"error":"unknown control endpoint"}']
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_kobo/"):
            return self.control(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB"):
            name = target.rpartition(".")[2]
            data_plane = self.patched and target.startswith("DynamoDB_")
            request = b""
            if data_plane:
                # Read the request once so it can be looked at and still reach moto.
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                except ValueError:
                    length = 0
                request = environ["wsgi.input"].read(length) if length > 0 else b""
                environ["wsgi.input"] = io.BytesIO(request)
                environ["CONTENT_LENGTH"] = str(len(request))
            with LOCK:
                started = time.perf_counter()
                try:
                    return self.dynamodb(environ, start_response, name, request, data_plane)
                finally:
                    if self.patched:
                        trim_if_due()
                    op = OPS[name]
                    op[0] += 1
                    op[1] += time.perf_counter() - started
        if target:
            return self.json_protocol(environ, start_response)
        return self.app(environ, start_response)

    def json_protocol(self, environ, start_response):
        """A JSON-protocol request (Secrets Manager, SQS): IAM denials answered in JSON."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        status = captured.get("status", "500 Internal Server Error")
        headers = captured.get("headers", [])
        if status.startswith("403"):
            denial = json_denial(body)
            if denial is not None:
                headers, body = denial
        start_response(status, headers)
        return [body]

    def dynamodb(self, environ, start_response, name: str, request: bytes, data_plane: bool):
        """One DynamoDB request, under LOCK."""
        if not data_plane:
            # Consume the body under the lock: moto may build it lazily.
            return self.json_protocol(environ, start_response)
        token = None
        if name == "TransactWriteItems":
            try:
                token = json.loads(request or b"{}").get("ClientRequestToken")
            except ValueError:
                token = None
            if token:
                digest = hashlib.sha256(request).hexdigest()
                again = remembered_token(token, digest, start_response)
                if again is not None:
                    return again
        may_fault = (name in DATA_READS or name in WRITES) and FAULTS.applies(name)
        fault = injected_fault(name, request, start_response) if may_fault else None
        if fault is not None:
            return fault
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        if captured.get("status", "").startswith("403"):
            denial = json_denial(body)
            if denial is not None:
                captured["headers"], body = denial
        ok = captured.get("status", "").startswith("200")
        if ok and token:
            TOKENS[token] = (digest, captured["status"], captured["headers"], body, time.time())
        if ok and may_fault and name in WRITES and FAULTS.roll("error_after_write"):
            FAULTS.injected["error_after_write"] += 1
            return error_response(start_response, "500 Internal Server Error", "InternalServerError", "Internal server error")
        start_response(captured.get("status", "500 Internal Server Error"), captured.get("headers", []))
        return [body]


def exit_with_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main() -> None:
    global KEEP_READ, HARD_CAP, TRIM_BATCH
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttl-sweep", type=float, default=60.0, help="seconds between TTL sweeps")
    parser.add_argument("--stock", action="store_true", help="stock moto transactions and streams (for measuring)")
    parser.add_argument("--log-requests", action="store_true", help="log every request (werkzeug's access log)")
    parser.add_argument("--keep-read", type=int, default=KEEP_READ, help="stream records kept once read")
    parser.add_argument("--hard-cap", type=int, default=HARD_CAP, help="unread stream records kept at most")
    parser.add_argument("--trim-batch", type=int, default=TRIM_BATCH, help="records past --keep-read before a trim")
    parser.add_argument("--faults", default="", help="fault spec, e.g. seed=7,conflict=0.1,throttle=0.05")
    parser.add_argument("--check-results", action="store_true", help="compare direct results with moto's own")
    args = parser.parse_args()
    global FAULTS
    FAULTS = Faults(args.faults)
    KEEP_READ, HARD_CAP, TRIM_BATCH = args.keep_read, args.hard_cap, args.trim_batch

    patched = not args.stock
    if not args.log_requests:
        # One access-log line per request costs more than many requests themselves.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if patched:
        install_journaled_transactions()
        install_partition_queries()
        install_stream_trimming()
        install_direct_results(args.check_results)
        install_module_list_cache()
        threading.Thread(target=sweeper, args=(args.ttl_sweep,), daemon=True).start()
    install_iam()
    app = Launcher(DomainDispatcherApplication(create_backend_app), patched)
    server = make_server(args.host, args.port, app, threaded=True)
    threading.Thread(target=exit_with_parent, args=(os.getppid(),), daemon=True).start()
    sys.stdout.write(f"PORT {server.port}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
