"""One execution of a scenario under one schedule.

Every CPU's code (a litmus block, an mm operation, a user access) runs as a
greenlet, an *actor*.  It runs until its next scheduling point (explore/points.py),
announces the access it is about to make, and switches back here.  The controller
then asks a chooser which enabled actor takes the next *step*: the announced
access and everything up to that actor's next point.  An actor is disabled while
its announced step cannot happen (a PTE lock another CPU holds, a PTE whose
_PAGE_BUSY is set).

A step's *footprint* is what it touched (location -> written?): the announced
location and whatever it also touched before its next point (frames allocated or
freed, the frame a user access reached).  The exhaustive search compares
footprints to decide which steps are independent.

After every step the invariants (explore/invariants.py) are checked; the first
broken one stops the execution.  Rule breaches found by debug mode are recorded
and the execution goes on, so the corruption they lead to is seen too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from time import perf_counter

from greenlet import greenlet

from ..machine.spinlock import LockError
from ..machine.memory import BadPageState
from ..machine.violation import InvariantViolation
from ..mm.fault import SegmentationFault
from ..txn import TxnError
from .checkpoint import Checkpoint
from .invariants import BUG, DEADLOCK, Invariants, Violation
from .loops import Cut, Loop
from .footprint import HASH_BITS, OTHER_BITS, join
from .points import attach, instrument


OUTCOME = ("outcome",)  # the location standing for what an execution records (Execution._outcome)


class _Stop(Exception):
    """Unwinds the actor whose step broke an invariant: its execution stops there."""


class _Unwind(BaseException):
    """Unwinds an actor the execution ended before it finished (its worker goes idle)."""


def kernel_bug(e: Exception) -> str:
    """A consistency check of the model that failed, as the kernel reports its own
    (kernel/locking/spinlock_debug.c spin_bug(): "BUG: spinlock already unlocked on CPU#0";
    mm/page_alloc.c bad_page(): "BUG: Bad page state"; BUG_ON: "kernel BUG")."""
    if isinstance(e, LockError):
        return f"BUG: spinlock {e}"
    if isinstance(e, BadPageState):
        return f"BUG: Bad page state: {e}"
    if isinstance(e, TxnError):  # the interface's own check (txn.py), a WARN in a kernel
        return f"kernel BUG: transaction refused: {e}"
    return f"kernel BUG: {e or 'a consistency check of the model failed'}"


class ScenarioError(Exception):
    """The scenario itself is wrong (a litmus body calls something with bad arguments)."""

    def __init__(self, message: str, where: str = ""):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


@dataclass
class ActorSpec:
    """An actor of a scenario: the scenario's run_actor(world, actor) runs its code."""

    name: str  # P0, P1, ... or hw:cpu1:fill:A
    cpu: int


@dataclass
class World:
    """What a scenario builds for one execution: a machine in its initial state."""

    machine: object
    actors: list[ActorSpec]
    watched: list[tuple[object, int, str]]  # (mm, va, page name): the pages the invariants watch
    state: dict = field(default_factory=dict)  # the scenario's own (locals of the blocks...)


class Actor:
    __slots__ = ("index", "name", "cpu", "glet", "pending", "finished", "outcome", "wrote", "line", "is_hw",
                 "execution", "work", "work_step", "waiting", "ops")

    def __init__(self, index: int, spec: ActorSpec, cpu, execution=None):
        self.index = index
        self.name = spec.name
        self.cpu = cpu
        self.glet = None
        self.pending = None  # (loc, write, what, enabled, also) of the next step
        self.finished = False
        self.outcome = None  # "SIGSEGV" when the body took one
        self.wrote: set[int] = set()  # PTEs this actor's operation wrote (in flight until it ends)
        self.line = 0  # the litmus line being executed, for the step table
        self.is_hw = spec.name.startswith("hw:")
        self.execution = execution
        self.work, self.work_step = 0, -1  # iterations of loops since its last scheduling point
        self.waiting = None  # a loops.Waiting after a waiting iteration of a spin loop
        self.ops: list = []  # the operations it is inside, outermost first (explore/invariants.py)

    def loop(self, where: str) -> Loop:
        """A loop of its code starts (at `where`, file:line): explore/loops.py."""
        return Loop(self.execution, self, where)

    def next_footprint(self) -> dict:
        """What the announced next step touches, before it runs: location -> written?"""
        loc, write, _, _, also = self.pending
        footprint = {loc: write}
        for other in also or ():
            footprint[other] = True
        return footprint


class Step:
    """One step: the actor, what it touched (location -> written?), what it announced."""

    __slots__ = ("actor", "footprint", "what", "line", "before", "after", "events")

    def __init__(self, actor: int, footprint: dict, what: str, line: int):
        self.actor, self.footprint, self.what, self.line = actor, footprint, what, line
        self.before = self.after = None  # watched state around it, for the step table
        self.events: list[str] = []  # what else it did that a reader wants to see (table mode)


class InitialState:
    """A search's initial state: built by its first execution, restored for the others.
    It also keeps the search's idle workers."""

    def __init__(self):
        self.checkpoint: Checkpoint | None = None
        self.workers: list[greenlet] = []


def _serve() -> None:
    """A worker: the greenlet an actor's code runs in, reused by the search's executions
    (making a greenlet and running it the first time costs about 11 µs here, since its
    Python frames get a freshly mapped stack; a switch into a live one, 0.65 µs).  Idle, it waits to be handed an actor's code; then
    until the actor's first step; then runs it, and is idle again."""
    while True:
        run = greenlet.getcurrent().parent.switch()
        try:
            greenlet.getcurrent().parent.switch()
            run()
        except _Unwind:
            pass


@dataclass
class Result:
    """What one execution did."""

    schedule: list[int]
    steps: list[Step]
    violations: list[Violation]
    breaches: list[tuple]  # (rule id, step, actor name, line)
    final: dict | None  # the scenario's observation of the final state; None when stopped
    outcomes: dict  # actor name -> "SIGSEGV"... for actors that did not return normally
    redundant: bool = False  # stopped by the sleep set: equivalent to an explored execution
    cut: str | None = None  # the bound that stopped it
    note: str = ""  # what that bound says about where it stopped it
    world: World | None = None  # its machine in the final state, for final conditions (until
                                # the search's next execution puts the initial state back)


class Execution:
    """The controller the scheduling points talk to, for one run of one scenario."""

    def __init__(self, scenario, arch: str, chooser, max_steps: int = 2000, table: bool = False,
                 debug: bool = True, initial: InitialState | None = None, deadline: float | None = None,
                 spin: bool = True, hash_bits: bool = False):
        self.scenario = scenario
        self.hash_bits = hash_bits  # the checks run after a write of hash bits only too (Invariants)
        self.spin = spin  # the spin-loop reduction (explore/loops.py)
        self.cut: Cut | None = None  # a bound that stopped an actor inside its code
        self.deadline = deadline  # time.perf_counter() past which the execution is cut ("seconds")
        self.initial = initial
        self.workers = initial.workers if initial is not None else []  # idle ones
        self.arch = arch
        self.chooser = chooser
        self.max_steps = max_steps
        self.table = table
        self.debug = debug
        self.active = False
        self.current: Actor | None = None
        self.step: Step | None = None
        self.steps: list[Step] = []
        self.schedule: list[int] = []
        self.violations: list[Violation] = []
        self.breaches: list[tuple] = []
        # A prefix the chooser has run before (the exhaustive search replaying up to its
        # next branch): its steps, analysed and checked then, are run again without a
        # stop at each point, without footprints and without the invariants.
        self.prefix, self.prefix_steps = chooser.prefix() if hasattr(chooser, "prefix") else ((), ())
        self.prefix_length = len(self.prefix)
        self.replaying = False
        self._fingerprinter = None

    # ---- what the scheduling points call ---------------------------------------------
    def point(self, loc, write, what, enabled=None, also=None):
        if not self.active:
            return
        actor = self.current
        if self.replaying:  # the prefix's next step is this actor's: it just goes on
            steps = self.steps
            i = len(steps)
            if i < self.prefix_length and self.prefix[i] == actor.index:
                steps.append(self.prefix_steps[i])
                return
        actor.pending = (loc, write, what, enabled, also)
        self._main.switch()

    def touch(self, loc, write):
        if self.active and not self.replaying:
            fp = self.step.footprint
            old = fp.get(loc)
            fp[loc] = write if old is None else join(old, write)

    def only_read(self, loc):
        """The step in progress announced a write of loc and only read it: its footprint says
        a read (a write of loc later in the step, through `touch`, says a write again)."""
        if self.active and not self.replaying and self.step.footprint.get(loc):
            self.step.footprint[loc] = False

    def hash_bits_only(self, loc):
        """The step in progress, announced as a write of the entry at loc, changed only its
        hash bits (HASH_BITS)."""
        if self.active and not self.replaying and self.step.footprint.get(loc) is True:
            self.step.footprint[loc] = HASH_BITS

    def checked(self, loc):
        """The checks after the step in progress read loc (explore/invariants.py): a read
        of the step."""
        if not self.replaying and self.step is not None:  # of an entry, the checks read no hash bit
            self.step.footprint.setdefault(loc, OTHER_BITS if loc[0] == "pte" else False)

    def _outcome(self, write: bool) -> None:
        """The step changes what the execution's outcome records.  Rule breaches are
        recorded as a set, so two of them commute (reads of OUTCOME); a violation ends the
        execution and what is recorded with it (a write): a step that records a breach is
        ordered against it, so the reduction also runs the breach before the violation."""
        step = self.step
        if step is not None and not self.replaying:
            fp = step.footprint
            fp[OUTCOME] = fp.get(OUTCOME, False) or write

    def pte_written(self, ptep):
        if self.active:
            self.current.wrote.add(ptep)
            seq = self.pte_seq  # which write of the entry this is (machine/memory.py)
            seq[ptep] = n = seq.get(ptep, 0) + 1
            self.invariants.written(self.current, ptep, n)

    def pte_seen(self, ptep, pte):
        if self.active and self.current.ops:
            self.invariants.seen(self.current, ptep, pte)

    def operation_begin(self, name):
        if self.active:
            self.invariants.begin(self.current, name)

    def operation_end(self):
        if self.active:
            self.invariants.end(self, self.current)

    def returned(self, old):
        if self.active:
            self.invariants.returned(old)
        return old

    def dirty_taken(self, pfn):
        if self.active:
            self.invariants.freed(pfn)

    def user_stored(self, pfn, va, cpu):
        if self.active:
            self.invariants.stored(pfn, va, cpu)

    def gup_took(self, mm, addr, pfn, write):
        if self.active:
            self.invariants.gup_took(self, mm, addr, pfn, write)

    def frame_freed(self, pfn):
        if self.active:
            self.invariants.freed(pfn)
            self.note(f"frame {pfn} freed")

    def note(self, event: str) -> None:
        """An event for the step table's row of the step in progress."""
        step = self.step
        if self.table and self.active and step is not None:
            line = self.current.line if self.current is not None else 0
            step.events.append(event if not line or line == step.line else f"{event} (line {line})")

    def violation(self, invariant, detail, va=None, pfn=None, cpu=None):
        """Machine.violation while exploring: record, then stop the execution."""
        if pfn is not None:
            self.touch(("frame", pfn), True)  # the access that broke it is part of the step
        self._record(invariant, detail, va, pfn, cpu)
        raise _Stop()

    def _record(self, invariant, detail, va=None, pfn=None, cpu=None, blame=True):
        """A broken invariant, at the step that broke it (the last one taken: its row in the
        step table); `blame=False` when no rule of the rulebook prevents it."""
        if cpu is None and self.current is not None:
            cpu = self.current.cpu.id
        self._outcome(True)
        rule = self.breaches[0][0] if self.breaches else None
        self.violations.append(Violation(invariant, detail, va, pfn, cpu, max(0, len(self.steps) - 1), rule,
                                         self.current.name if self.current else None, blame))

    # ---- running -------------------------------------------------------------------------
    def run(self) -> Result:
        attach(self)
        world = self._initial_state()
        machine = world.machine
        machine.violation = self.violation
        if machine.debug is not None:
            machine.debug.record = _Breaches(self)
        self.world = world
        self.pte_seq = machine.mem.pte_seq
        self.invariants = Invariants(world, self.hash_bits)
        self._main = greenlet.getcurrent()
        actors = [Actor(i, spec, machine.cpus[spec.cpu], self) for i, spec in enumerate(world.actors)]
        self.actors = actors
        self.active = True
        result_cut = None
        redundant = False
        try:
            for actor in actors:  # an actor's first step runs it up to its first point
                actor.glet = self._worker()
                actor.glet.switch(self._body(actor))
                actor.pending = (("start", actor.index), False, "start", None, None)
            self._replay(actors)
            steps, violations, invariants = self.steps, self.violations, self.invariants
            choose, executed = self.chooser.choose, self.chooser.executed
            max_steps, deadline, may_go_on = self.max_steps, self.deadline, self._may_go_on
            while True:
                # enabled: not finished, and its announced step can happen now
                if self.cut is not None:
                    result_cut = self.cut.bound
                    break
                enabled = [a.index for a in actors if not a.finished and (a.waiting is None or may_go_on(a))
                           and (a.pending[3] is None or a.pending[3]())]
                if not enabled:
                    blocked = [a for a in actors if not a.finished]
                    if blocked:  # a spin loop's livelock is no rule's business
                        self._record(DEADLOCK, "no CPU can go on: " + ", ".join(map(_blocked, blocked)),
                                     blame=not any(a.waiting for a in blocked))
                    break
                if len(steps) >= max_steps:
                    result_cut = "steps"
                    break
                if deadline is not None and perf_counter() > deadline:
                    result_cut = "seconds"
                    break
                choice = choose(self, len(steps), enabled)
                if choice is None:
                    redundant = True
                    break
                actor = actors[choice]
                footprint = self._take_step(actor)
                # a violation the hardware model saw stopped its actor mid-operation: what
                # the checks would find after that is no state the code reaches
                if not violations and invariants.may_break(footprint, actor):
                    self.active = False  # the checks' own reads are added by `checked`
                    invariants.after_step(self)
                    self.active = True
                # the chooser hears of the step with what its checks read
                executed(self, len(steps) - 1, actor.index, footprint)
                if violations:
                    break
        finally:
            self.active = False
            # the actors cut off mid-way, with the step each had announced (for the search)
            self.unfinished = [a for a in actors if not a.finished]
            for actor in actors:
                glet = actor.glet
                if glet is not None and not glet.dead:
                    if not actor.finished:
                        glet.throw(_Unwind)
                    self.workers.append(glet)
        if self.cut is not None and result_cut is None and not self.violations:
            result_cut = self.cut.bound  # the last actor stopped inside its code
        final = None
        if not self.violations and result_cut is None and not redundant:
            final = self.scenario.observe(world)
        return Result(self.schedule, self.steps, self.violations, self.breaches, final,
                      {a.name: a.outcome for a in actors if a.outcome}, redundant, result_cut,
                      self.cut.note if self.cut is not None and result_cut == self.cut.bound else "", world)

    def fingerprint(self) -> bytes | None:
        """The state this execution has reached, for the merged search (explore/state.py):
        the world, the invariants' bookkeeping, the breaches so far and every actor's
        position; None when part of it cannot be hashed soundly."""
        fingerprinter = self._fingerprinter
        if fingerprinter is None:
            from ..machine import Machine
            from ..machine.counters import Counters
            from .loops import Loop, Waiting
            from .state import Fingerprinter

            special = {
                Actor: lambda a, now: (a.index, a.finished, a.outcome, a.pending, a.wrote, a.line, a.waiting, a.ops),
                Loop: lambda loop, now: (loop.actor, loop.where, loop.locals, now - loop.first),
                Waiting: lambda w, now: (w.reads, now - w.since, w.where),
                Counters: lambda c, now: (),  # written by the model, never read by it
                # the CPU that ran last: _switch_to sets it before every step
                Machine: lambda m, now: tuple(item for item in m.__dict__.items() if item[0] != "this_cpu"),
            }
            atoms = [(self, "<execution>"), (self._main, "<controller>"),
                     *((glet, "<greenlet>") for glet in (*self.workers, *(a.glet for a in self.actors)))]
            fingerprinter = self._fingerprinter = Fingerprinter(atoms, special,
                                                                (Execution.point.__code__, _serve.__code__),
                                                                static=self.scenario)
        return fingerprinter.of((self.world, self.invariants, self.breaches), self.actors, len(self.steps))

    def _worker(self) -> greenlet:
        """An idle worker of the search, or a new one."""
        workers = self.workers
        if workers:
            glet = workers.pop()
            glet.parent = self._main
        else:
            glet = greenlet(_serve, parent=self._main)
            glet.switch()
        return glet

    def _initial_state(self) -> World:
        """Restored from the search's checkpoint, or built (and saved for the next ones)."""
        initial = self.initial
        if initial is not None and initial.checkpoint is not None:
            return initial.checkpoint.restore()
        from ..arch import boot  # the explorer sits above the backends

        # a litmus test maps a handful of pages: 16 HPTE groups are plenty (and cheap to make)
        machine = boot(self.arch, cpus=self.scenario.ncpus, debug=False, hash_groups=16)
        instrument(machine)
        world = self.scenario.build(machine, debug=self.debug)
        if initial is not None:
            initial.checkpoint = Checkpoint(world)
        return world

    def _replay(self, actors: list[Actor]) -> None:
        """Run the chooser's prefix: each actor runs on through its own steps of it.  The
        schedule so far is the prefix itself."""
        prefix, steps = self.prefix, self.steps
        self.replaying = True
        while len(steps) < len(prefix):
            actor = actors[prefix[len(steps)]]
            steps.append(self.prefix_steps[len(steps)])
            actor.pending = None
            self._switch_to(actor)
        self.replaying = False
        self.schedule = list(prefix)

    def _body(self, actor: Actor):
        def run():
            try:
                actor.outcome = None
                actor.line = 0
                self.scenario.run_actor(self.world, actor)
            except Cut as cut:
                self.cut = cut
            except _Stop:
                pass
            except SegmentationFault:
                actor.outcome = "SIGSEGV"
            except InvariantViolation as e:  # a check outside the explorer's hooks
                self._record(e.invariant, e.detail, e.va, e.pfn, e.cpu)
                self.violations[-1].own = e.own
            except (BadPageState, LockError, TxnError, AssertionError, RuntimeError) as e:
                # TxnError: an intent the entry no longer allows, when a writer that broke
                # lock-held changed it under the transaction (rule-lock-held with --api txn)
                self._record(BUG, kernel_bug(e))
            # anything else is not the scenario's fault (a litmus body's arguments are checked
            # before each call): a bug of ptelab's, which the command reports as one
            finally:
                actor.finished = True
                for ptep in actor.wrote:  # its writes are no longer in flight (invariants.py)
                    self.touch(("in flight", ptep), True)
                actor.wrote.clear()
                actor.ops.clear()
        return run

    def _switch_to(self, actor: Actor) -> None:
        self.current = actor
        self.world.machine.this_cpu = actor.cpu
        actor.glet.switch()
        self.current = None

    def _may_go_on(self, actor: Actor) -> bool:
        """Not blocked after a waiting iteration of a spin loop, or woken since."""
        waiting = actor.waiting
        if waiting is None:
            return True
        if waiting.woken(self.steps, actor.index):
            actor.waiting = None
            return True
        return False

    def _take_step(self, actor: Actor) -> dict:
        footprint = actor.next_footprint()
        step = Step(actor.index, footprint, actor.pending[2], actor.line)
        if self.table:
            step.before = self.invariants.snapshot()
        self.step = step
        self.steps.append(step)
        self.schedule.append(actor.index)
        actor.pending = None
        self._switch_to(actor)
        if self.table:
            step.after = self.invariants.snapshot()
        return footprint


def _blocked(actor: Actor) -> str:
    if actor.waiting is not None:
        return (f"{actor.name} spins forever in the loop at {actor.waiting.where} (livelock: what it "
                "reads does not change and no CPU left can change it)")
    return f"{actor.name} waits at {actor.pending[2]}"


class _Breaches(list):
    """Debug mode's record list: each breach is noted with the step, actor and line."""

    def __init__(self, execution: Execution):
        super().__init__()
        self.execution = execution

    def append(self, rule_id):
        ex = self.execution
        step = max(0, len(ex.steps) - 1)  # the step whose code made the call: its row in the table
        if ex.active and ex.current is not None:
            actor = ex.current
            ex.breaches.append((rule_id, step, actor.name, actor.line))
            ex._outcome(False)
        else:
            ex.breaches.append((rule_id, step, None, 0))
        ex.note(f"breaks rule {rule_id}")
        super().append(rule_id)
