"""The initial state of a search, saved once and put back in place for each execution.

Every execution of a search starts from the same built world.  Building it runs the
model (mmap, faults, clears and flushes, the declared TLB fills) and costs about
three times what putting its state back costs.  A checkpoint records every mutable
thing reachable from the world when it is taken (lists, dicts, sets, and the
attributes of every object) with a shallow copy of its contents, and `restore()`
puts each content back in place.  Objects an execution made are dropped with the
containers that referred to them; objects that existed are the same objects again,
so references between them (an mm's page directory, a vma's mm, a CPU's TLB) hold.

A type whose state the checkpoint cannot see (a bytearray, a deque, an array) is
refused when the checkpoint is taken, not silently left out.
"""

from __future__ import annotations

import array
import collections
import types
from itertools import repeat

_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), type, range, frozenset,
              types.FunctionType, types.BuiltinFunctionType, types.BuiltinMethodType,
              types.ModuleType, types.CodeType)
# state it cannot see, or could not put back with the built-in types' methods
_OPAQUE = (bytearray, memoryview, collections.deque, array.array, collections.OrderedDict)


def _may_hold(items) -> bool:
    """Whether some of the items may be mutable (the walk skips the immutable ones anyway: a
    PTE table or a struct page field array is hundreds of numbers, looked at by type here)."""
    return any(not issubclass(kind, _IMMUTABLE) for kind in set(map(type, items)))


def _slots(cls: type) -> tuple[str, ...]:
    names = _SLOTS.get(cls)
    if names is None:
        names = _SLOTS[cls] = tuple(name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())
                                    if name not in ("__dict__", "__weakref__"))
    return names


_SLOTS: dict[type, tuple[str, ...]] = {}  # a class -> its slots' names, from every class of its MRO


class Checkpoint:
    def __init__(self, root):
        self.root = root
        self._lists: list[tuple] = []  # (list, its contents)
        self._dicts: list[tuple] = []  # (dict or an object's __dict__, its contents)
        self._sets: list[tuple] = []
        self._slotted: list[tuple] = []  # (object, [(slot, value)], the slots it had empty)
        seen: set[int] = set()
        stack = [root]
        while stack:
            obj = stack.pop()
            if isinstance(obj, _IMMUTABLE) or id(obj) in seen:
                continue
            seen.add(id(obj))
            stack.extend(self._save(obj))
        self._restore = self._columns()  # the same, as restore() walks it

    def _save(self, obj) -> list:
        """Record obj's contents; return what it refers to."""
        if isinstance(obj, tuple):
            return list(obj) if _may_hold(obj) else []
        if isinstance(obj, types.MethodType):
            return [obj.__self__]
        if isinstance(obj, _OPAQUE):
            raise TypeError(f"a checkpoint cannot save a {type(obj).__name__}")
        refs = []
        kind = type(obj)
        if kind is list or kind is dict or kind is set:  # no attributes, no slots: the contents only
            return self._contents(obj, refs)
        self._contents(obj, refs)
        attributes = getattr(obj, "__dict__", None)
        if attributes is not None:
            self._dicts.append((attributes, dict(attributes)))
            refs.extend(attributes.values())
        names = _slots(type(obj))
        if names:
            held = [(name, getattr(obj, name)) for name in names if hasattr(obj, name)]
            unset = [name for name in names if not hasattr(obj, name)]
            self._slotted.append((obj, held, unset))
            refs.extend(value for _, value in held)
        return refs

    def _contents(self, obj, refs: list) -> list:
        """Record what a list, dict or set (or an instance of a subclass) holds; add what it
        refers to to refs."""
        if isinstance(obj, list):
            self._lists.append((obj, list(obj)))
            if _may_hold(obj):
                refs.extend(obj)
        elif isinstance(obj, dict):
            self._dicts.append((obj, dict(obj)))
            if _may_hold(obj):
                refs.extend(obj.keys())
            if _may_hold(obj.values()):
                refs.extend(obj.values())
        elif isinstance(obj, set):
            self._sets.append((obj, set(obj)))
            if _may_hold(obj):
                refs.extend(obj)
        return refs

    def restore(self):
        """Put every recorded content back; the root, as it was when the checkpoint was taken.
        The built-in types' own methods are used, past any subclass's (a Counter's update
        adds, a struct page field array's __setitem__ records an access).  It runs before
        every execution of a search: the loops are the built-in map's, over the flat
        columns `_columns` keeps, not Python's."""
        lists, list_contents, dicts, dict_contents, sets, set_contents, objs, names, values, unset = self._restore
        exhaust(map(_set_items, lists, repeat(slice(None)), list_contents))
        exhaust(map(_clear_dict, dicts))
        exhaust(map(_update_dict, dicts, dict_contents))
        exhaust(map(_clear_set, sets))
        exhaust(map(_update_set, sets, set_contents))
        exhaust(map(setattr, objs, names, values))
        for obj, name in unset:  # a slot the execution filled is emptied again
            if hasattr(obj, name):
                delattr(obj, name)
        return self.root

    def _columns(self) -> tuple:
        """What restore() puts back, as parallel sequences."""
        held = [(obj, name, value) for obj, pairs, _ in self._slotted for name, value in pairs]
        return (tuple(obj for obj, _ in self._lists), tuple(contents for _, contents in self._lists),
                tuple(obj for obj, _ in self._dicts), tuple(contents for _, contents in self._dicts),
                tuple(obj for obj, _ in self._sets), tuple(contents for _, contents in self._sets),
                tuple(obj for obj, _, _ in held), tuple(name for _, name, _ in held),
                tuple(value for _, _, value in held),
                tuple((obj, name) for obj, _, names in self._slotted for name in names))


exhaust = collections.deque(maxlen=0).extend  # exhausts an iterator of calls made for their effect, in C


_set_items, _clear_dict, _update_dict = list.__setitem__, dict.clear, dict.update
_clear_set, _update_set = set.clear, set.update
