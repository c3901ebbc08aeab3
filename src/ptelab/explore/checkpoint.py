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

_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), type, range, frozenset,
              types.FunctionType, types.BuiltinFunctionType, types.BuiltinMethodType,
              types.ModuleType, types.CodeType)
# state it cannot see, or could not put back with the built-in types' methods
_OPAQUE = (bytearray, memoryview, collections.deque, array.array, collections.OrderedDict)


def _slots(cls: type) -> list[str]:
    return [name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())
            if name not in ("__dict__", "__weakref__")]


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

    def _save(self, obj) -> list:
        """Record obj's contents; return what it refers to."""
        if isinstance(obj, tuple):
            return list(obj)
        if isinstance(obj, types.MethodType):
            return [obj.__self__]
        if isinstance(obj, _OPAQUE):
            raise TypeError(f"a checkpoint cannot save a {type(obj).__name__}")
        refs = []
        if isinstance(obj, list):
            self._lists.append((obj, list(obj)))
            refs.extend(obj)
        elif isinstance(obj, dict):
            self._dicts.append((obj, dict(obj)))
            refs.extend(obj.keys())
            refs.extend(obj.values())
        elif isinstance(obj, set):
            self._sets.append((obj, set(obj)))
            refs.extend(obj)
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

    def restore(self):
        """Put every recorded content back; the root, as it was when the checkpoint was taken.
        The built-in types' own methods are used, past any subclass's (a Counter's update
        adds, a struct page field array's __setitem__ records an access)."""
        everything = slice(None)
        for obj, contents in self._lists:
            _set_items(obj, everything, contents)
        for obj, contents in self._dicts:
            _clear_dict(obj)
            _update_dict(obj, contents)
        for obj, contents in self._sets:
            _clear_set(obj)
            _update_set(obj, contents)
        for obj, held, unset in self._slotted:
            for name, value in held:
                setattr(obj, name, value)
            for name in unset:  # a slot the execution filled is emptied again
                if hasattr(obj, name):
                    delattr(obj, name)
        return self.root


_set_items, _clear_dict, _update_dict = list.__setitem__, dict.clear, dict.update
_clear_set, _update_set = set.clear, set.update
