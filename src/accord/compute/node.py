"""Joint computations on a consortium node: the job records it writes, the fold it keeps, the
party it runs.

Every node folds the ``accord.compute`` entries of its ledger in order (:mod:`accord.compute.jobs`,
pure) and so knows every job's state. A node whose organization participates also:

* at ``accept`` (an Administrator's request): resolves its input (a value the user submits, or a
  field of its own private entries), checks it against the program, draws a salt, keeps input
  and salt 0600 in ``DIR/compute/<job>.json`` and orders an ``accept`` record carrying only the
  input's commitment and the address its party will listen on;
* once the fold says the job is ``running``: starts its MPyC party as a subprocess
  (:func:`accord.compute.party.run_party_subprocess`), pinned to every participant node's TLS
  certificate, and orders a ``result`` record with what the party printed — or a ``fail``
  record with the party's error, so a party that drops out makes the job fail with no result.

The job is ``completed`` once every participant reported the same result; the entries carrying
it are then final like any other, under the consortium's cosigned checkpoints.

Role checks that need the state at the entry (only Administrators propose, accept and decline)
are made by the applier when the record is ordered; the fold here takes the current membership
for the rest (which members and nodes exist), which only a governance change between a job's
records could make differ between nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from accord.compute import ComputeError
from accord.compute.catalogue import PROGRAMS, Program, check_inputs, check_params, get_program
from accord.compute.jobs import (
    COMPUTE_COLLECTION,
    RUNNING,
    InputSpec,
    Job,
    JobState,
    ProgramInfo,
    accept_record,
    advance,
    check,
    decline_record,
    fail_record,
    fold,
    input_commitment,
    propose_record,
    result_record,
)
from accord.consortium.apply import GOVERNANCE_COLLECTION, Applier, replay_governance
from accord.core.canonical import parse_json
from accord.core.consortium import ConsortiumState
from accord.errors import (
    AccordError,
    AuthError,
    ConfigurationError,
    Conflict,
    InvalidRequest,
    NotFound,
)
from accord.identity import write_private
from accord.log.ledger import NewEntry

if TYPE_CHECKING:
    from accord.consortium.node import ConsortiumNode

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5


def catalogue_info() -> dict[str, ProgramInfo]:
    """The catalogue as the job fold sees it (ids, versions, digests, party counts, params)."""
    return {
        p.id: ProgramInfo(
            p.id,
            p.version,
            p.sha256,
            p.min_parties,
            p.max_parties,
            frozenset(p.params),
            frozenset(n for n, spec in p.params.items() if spec.required),
        )
        for p in PROGRAMS.values()
    }


def program_json(p: Program) -> dict[str, object]:
    return {
        "id": p.id,
        "version": p.version,
        "sha256": p.sha256,
        "description": p.description,
        "inputKind": p.input_kind,
        "minParties": p.min_parties,
        "maxParties": p.max_parties,
        "maxItems": p.max_items,
        "engine": p.engine,
        "params": {
            n: {
                "description": s.description,
                "minimum": s.minimum,
                "maximum": s.maximum,
                "required": s.required,
            }
            for n, s in p.params.items()
        },
    }


def _listen(host: str) -> tuple[int, str]:
    """A free port for this node's party and the address it listens on: the node's registered
    host when it is an address of this machine, else every interface (a node behind NAT or a
    load balancer, reached at its registered host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in (host, "::" if family == socket.AF_INET6 else "0.0.0.0"):  # noqa: S104
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((candidate, 0))
                return int(s.getsockname()[1]), candidate
        except OSError:
            continue
    raise ConfigurationError(f"cannot find a port for this node's MPC party near {host}")


def _field(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(part)
        value = value[part]
    return value


class ComputeDriver:
    def __init__(self, node: ConsortiumNode, directory: Path) -> None:
        self.node = node
        self.directory = directory / "compute"
        self.catalogue = catalogue_info()
        self.jobs = JobState()
        self._scanned = 0
        self._parties: dict[str, asyncio.Task[None]] = {}
        self._wake: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._history: ConsortiumState | None = None  # the state at the last entry folded
        private = getattr(node, "private", None)
        if private is not None:  # an input read from private entries goes when they are purged
            private.on_erase.append(self.forget_source)

    @property
    def member(self) -> str:
        return self.node.settings.member

    # --- the fold ---------------------------------------------------------------------------
    def _fold_args(self) -> dict[str, Any]:
        state = self.node.state
        return {
            "members": frozenset(state.members),
            "nodes": {n: v.member for n, v in state.nodes.items()},
            "catalogue": self.catalogue,
        }

    def follow(self) -> JobState:
        """Fold the compute records this node applied since the last call; the job states at
        the ledger's time.

        Each record is judged by the consortium state *at that record* (members, nodes, users,
        roles), rebuilt here from the governance entries between them, so a node that folds a
        job long after it ended (a restart, a new node) reaches the same states as the nodes that
        folded it live."""
        with self._lock:
            ledger = self.node.ledger
            size = self.node.applied_size
            if self._history is None:
                if size < 1:
                    return self.jobs
                genesis = ledger.get_entry(1)
                self._history = Applier.from_genesis(
                    genesis.contents, genesis.metadata.timestamp_ms
                ).state
            while self._scanned < size:
                first = self._scanned + 1
                records = ledger.get_entries(
                    first, size, collection_id=COMPUTE_COLLECTION, limit=1000
                )
                last = records[-1].metadata.seqno if len(records) == 1000 else size
                governance = list(ledger.iter_collection(GOVERNANCE_COLLECTION, first, last))
                for entry in heapq.merge(governance, records, key=lambda e: e.metadata.seqno):
                    md = entry.metadata
                    if md.collection_id == GOVERNANCE_COLLECTION:
                        if md.seqno <= self._history.last_seqno:  # the genesis
                            continue
                        self._history = replay_governance(
                            self._history,
                            md.seqno,
                            md.timestamp_ms,
                            md.tags,
                            entry.contents,
                            md.user_id,
                        )
                        continue
                    state = self._history
                    self.jobs, outcome = fold(
                        self.jobs,
                        txid=str(md.transaction_id),
                        timestamp_ms=md.timestamp_ms,
                        user_id=md.user_id,
                        member=state.member_of(md.user_id),
                        is_admin=state.is_admin(md.user_id),
                        contents=entry.contents.encode("utf-8"),
                        members=frozenset(state.members),
                        nodes={n: v.member for n, v in state.nodes.items()},
                        catalogue=self.catalogue,
                    )
                    if not outcome.accepted:
                        log.info("compute record %s refused: %s", md.transaction_id, outcome.reason)
                self._scanned = last
            # The view at the applier's time (jobs past their deadline shown ended), kept out of
            # the folded state: the applier may be ahead of the entries folded so far, and a
            # record folded later must be dated by its own entry, as on every other node.
            applier = self.node.applier
            if applier is None:
                return self.jobs
            return advance(self.jobs, applier.ledger_time)

    def job(self, job_id: str) -> Job:
        return self.follow().job(job_id)

    def job_json(self, job: Job) -> dict[str, object]:
        """A job's provenance, and ``final``: it ended and its last record is covered by a final
        (cosigned) checkpoint. A job ended by the clock is final once an entry past its deadline
        or expiry is."""
        out = job.to_json()
        last = job.records[-1].txid if job.records else job.id
        out["final"] = job.terminal and self.node.ledger.status(_txid(last)) == "Committed"
        return out

    # --- writes -----------------------------------------------------------------------------
    async def _order(self, record: bytes, user_id: str) -> str:
        future = self.node.submit(
            [NewEntry(record.decode("utf-8"), COMPUTE_COLLECTION, ())], user_id=user_id
        )
        ids = await asyncio.wrap_future(future)
        txid = str(ids[0])
        self.wake()
        return txid

    def _check(self, record: bytes, user_id: str) -> None:
        state = self.node.state
        check(
            self.follow(),
            timestamp_ms=int(time.time() * 1000),
            user_id=user_id,
            member=state.member_of(user_id),
            is_admin=state.is_admin(user_id),
            contents=record,
            **self._fold_args(),
        )

    async def propose(self, body: Mapping[str, Any], user_id: str) -> str:
        """Order a job proposal from an API body; its job id."""
        unknown = set(body) - {"program", "participants", "params", "inputs", "timeoutMs"}
        if unknown:
            raise InvalidRequest(f"unknown fields: {', '.join(sorted(unknown))}")
        program = get_program(body.get("program"))
        participants = body.get("participants")
        if not isinstance(participants, list) or not all(isinstance(p, str) for p in participants):
            raise InvalidRequest("participants is a list of member organization names")
        params = check_params(program, body.get("params"))
        raw_inputs = body.get("inputs") or {}
        if not isinstance(raw_inputs, dict):
            raise InvalidRequest('inputs maps participants to {"kind": "value"} or entries')
        strangers = sorted(set(raw_inputs) - set(participants))
        if strangers:
            raise InvalidRequest(f"inputs names {', '.join(strangers)}, not a participant")
        inputs = {
            p: InputSpec.from_json(raw_inputs.get(p, {"kind": "value"})) for p in participants
        }
        timeout = body.get("timeoutMs", 600_000)
        record = propose_record(
            program=program.id,
            version=program.version,
            program_sha256=program.sha256,
            participants=participants,
            inputs=inputs,
            params=params,
            timeout_ms=timeout,
            nonce=secrets.token_hex(16),
        )
        self._check(record, user_id)
        return await self._order(record, user_id)

    def forget_source(self, seqno: int) -> None:
        """Drop the input values this node copied out of entry ``seqno`` (purged, or past its
        retention): the salt and commitment stay, the values do not. A job not run yet then
        fails at this organization ("its input was erased")."""
        if not self.directory.is_dir():
            return
        for path in self.directory.glob("*.json"):
            if path.name.endswith(".result.json"):
                continue
            try:
                kept = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if seqno in kept.get("sources", ()) and "input" in kept:
                del kept["input"]
                kept["erased"] = f"entry {seqno} it was read from was erased"
                fresh = path.with_name(path.name + ".tmp")
                fresh.unlink(missing_ok=True)
                write_private(fresh, json.dumps(kept).encode())
                os.replace(fresh, path)  # the old file's blocks are freed, not overwritten

    async def _input(self, job: Job, body: Mapping[str, Any]) -> tuple[list[Any], list[int]]:
        program = get_program(job.program)
        check_params(program, job.params)  # a proposal that skipped an edge's check
        spec = job.inputs[self.member]
        if spec.kind == "value":
            if set(body) != {"input"}:
                raise InvalidRequest(
                    f'this job takes {self.member}\'s input as a value: send {{"input": [...]}} '
                    f"({'integers' if program.input_kind == 'values' else 'strings'})"
                )
            return list(check_inputs(program, body["input"])), []
        if body:
            raise InvalidRequest(
                f"this job reads {self.member}'s input from its private entries of "
                f"{spec.collection_id} ({spec.entry_field}): send an empty body"
            )
        values, sources = await self._entries_input(spec, program)
        return list(check_inputs(program, values)), sources

    async def _entries_input(
        self, spec: InputSpec, program: Program
    ) -> tuple[list[Any], list[int]]:
        """The field ``spec.entry_field`` of every entry of ``spec.collection_id`` written by
        this organization's users, read as they would read it: a private entry opened as for a
        reader (fetched from a peer if this node lacks its copy), a purged or expired one left
        out."""
        ledger = self.node.ledger
        collection_id = spec.collection_id or ""
        values: list[Any] = []
        sources: list[int] = []
        size = self.node.applied_size
        state = self.node.state
        entries = await asyncio.to_thread(
            lambda: list(ledger.iter_collection(collection_id, 1, size))
        )
        for entry in entries:
            md = entry.metadata
            if state.member_of(md.user_id) != self.member:
                continue
            contents = await self.node.private.contents_of(entry)
            if contents is None:
                continue  # purged or past its retention: no longer an input
            try:
                values.append(_field(parse_json(contents), spec.entry_field or ""))
            except (KeyError, AccordError):
                continue  # an entry without the field is not an input
            sources.append(md.seqno)
        if not values:
            raise InvalidRequest(
                f"no entry of {collection_id} written by {self.member} has the field "
                f"{spec.entry_field}"
            )
        if program.input_kind == "set":
            values = sorted({str(v) for v in values})
        return values, sources

    async def accept(self, job_id: str, body: Mapping[str, Any], user_id: str) -> str:
        job = self.job(job_id)
        if self.member not in job.participants:
            raise AuthError(f"{self.member} does not take part in job {job_id}")
        value, sources = await self._input(job, body)
        salt = os.urandom(32)
        commitment = input_commitment(salt, value)
        host = urlsplit(self.node.state.nodes[self.node.node_id].url).hostname or "127.0.0.1"
        port, listen = _listen(host)
        endpoint = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        record = accept_record(
            job_id,
            input_commitment=commitment,
            node=self.node.node_id,
            endpoint=endpoint,
            nonce=secrets.token_hex(16),
        )
        self._check(record, user_id)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"{job_id}.json"
        if path.exists():
            raise Conflict(f"{self.member} already accepted job {job_id}")
        write_private(
            path,
            json.dumps(
                {
                    "input": value,
                    "salt": salt.hex(),
                    "endpoint": endpoint,
                    "listen": listen,
                    "sources": sources,
                    "user": user_id,
                }
            ).encode(),
        )
        try:
            return await self._order(record, user_id)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    async def decline(self, job_id: str, reason: str, user_id: str) -> str:
        record = decline_record(job_id, reason)
        self._check(record, user_id)
        return await self._order(record, user_id)

    def private_result(self, job_id: str, user_id: str) -> dict[str, Any]:
        """What this organization's party learnt beyond the recorded result (psi's items)."""
        if self.node.state.member_of(user_id) != self.member:
            raise AuthError("only this organization's users read its private results")
        path = self.directory / f"{job_id}.result.json"
        if not path.exists():
            raise NotFound(f"this node holds no private result of job {job_id}")
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded

    # --- running parties --------------------------------------------------------------------
    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        """Start this organization's party of every job that becomes running."""
        self._wake = asyncio.Event()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL)
            self._wake.clear()
            try:
                jobs = await asyncio.to_thread(self.follow)
            except Exception as exc:  # keep following; the next round retries
                log.warning("reading the compute records failed: %s", exc)
                continue
            for job in jobs.jobs.values():
                if (
                    job.state == RUNNING
                    and self.member in job.participants
                    and self.member not in job.results
                    and job.id not in self._parties
                    # the node the acceptance names runs the party, not another of this member's
                    and job.accepted[self.member].node == self.node.node_id
                    and (self.directory / f"{job.id}.json").exists()
                ):
                    self._parties[job.id] = asyncio.create_task(
                        self._run_party(job), name=f"accord-party-{job.id}"
                    )

    async def _run_party(self, job: Job) -> None:
        mine = json.loads((self.directory / f"{job.id}.json").read_text())
        user = mine["user"]
        if "input" not in mine:
            await self._report_failure(job, user, f"the input of {self.member} was erased")
            return
        marker = self.directory / f"{job.id}.started"
        if marker.exists():  # a party this node started before it restarted cannot rejoin
            await self._report_failure(job, user, "the party's node restarted during the run")
            return
        write_private(marker, b"")
        state = self.node.state
        parties = []
        for member in job.participants:
            acceptance = job.accepted[member]
            host, _, port = acceptance.endpoint.rpartition(":")
            host = host.strip("[]")
            node = state.nodes.get(acceptance.node)
            if node is None:
                await self._report_failure(job, user, f"node {acceptance.node} is gone")
                return
            # A party is dialled only at the host its node is registered at: an acceptance cannot
            # make honest nodes connect to an address of its choosing.
            registered = (urlsplit(node.url).hostname or "").strip("[]")
            if host.lower() != registered.lower():
                await self._report_failure(
                    job,
                    user,
                    f"the acceptance of {member} names an endpoint that is not its node's host",
                )
                return
            parties.append({"host": host, "port": int(port), "tlsCertSha256": node.tls_cert_sha256})
        data = self.node.state_dir.resolve()  # the party runs in a directory of its own
        deadline = job.deadline_ms or 0
        timeout = max(5.0, (deadline - time.time() * 1000) / 1000)
        config = {
            "program": job.program,
            "programSha256": job.program_sha256,
            "params": job.params,
            "index": job.participants.index(self.member),
            "parties": parties,
            "cert": str(data / "node.crt"),
            "key": str(data / "node.key"),
            "ca": str(data / "service.crt"),
            "input": mine["input"],
            "listenHost": mine.get("listen")
            or parties[job.participants.index(self.member)]["host"],
        }
        from accord.compute.party import run_party_subprocess

        try:
            answer = await run_party_subprocess(config, timeout=timeout)
        except ComputeError as exc:
            await self._report_failure(job, user, str(exc)[:500] or "the party failed")
            return
        try:
            if answer.get("private") is not None:
                write_private(
                    self.directory / f"{job.id}.result.json",
                    json.dumps(answer["private"]).encode(),
                )
            record = result_record(
                job.id, answer["result"], elapsed_ms=int(float(answer["elapsedSeconds"]) * 1000)
            )
        except (AccordError, KeyError, TypeError, ValueError, OSError) as exc:
            await self._report_failure(
                job, user, f"the party's answer could not be recorded: {exc}"
            )
            return
        try:
            await self._order(record, user)
        except AccordError as exc:
            log.warning("could not record the result of job %s: %s", job.id, exc)

    async def _report_failure(self, job: Job, user: str, reason: str) -> None:
        log.warning("job %s failed at %s: %s", job.id, self.member, reason)
        try:
            await self._order(fail_record(job.id, reason), user)
        except AccordError as exc:
            log.warning("could not record the failure of job %s: %s", job.id, exc)


def _txid(text: str) -> Any:
    from accord.core.entry import TransactionId

    return TransactionId.parse(text)
