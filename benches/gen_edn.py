#!/usr/bin/env python3
"""Large valid Jepsen EDN histories for timing `faultline check` on EDN (docs/checking.md,
"EDN read compact"). Usage: gen_edn.py register|list-append N OUT

- register: N ops, 1,000 keys (`:key`), 64 processes, ~2% info writes.
- list-append: N txns of 1-4 micro-ops over 10 active keys of at most 32 appends each.

Each op takes effect at its invoke, which lies inside the op, so the history is
linearizable (register) or strict-serializable (list-append). Seeded: the same N gives the
same file.
"""
import random
import sys


def register(n, w, rng):
    keys, state, open_ops = 1000, [None] * 1000, {}
    free, next_process = list(range(64)), 64
    idx = t = done = started = 0
    while done < n:
        t += rng.randint(1, 1000)
        if started < n and free and (not open_ops or rng.random() < 0.5):
            p = free.pop(rng.randrange(len(free)))
            k = rng.randrange(keys)
            if rng.random() < 0.5:
                v = rng.randrange(100)
                state[k] = v
                open_ops[p] = ("write", k, v)
                value = v
            else:
                open_ops[p] = ("read", k, state[k])
                value = "nil"
            f = open_ops[p][0]
            w("{:index %d, :time %d, :type :invoke, :process %d, :f :%s, :key %d, :value %s}\n"
              % (idx, t, p, f, k, value))
            started += 1
        else:
            p = rng.choice(list(open_ops))
            f, k, res = open_ops.pop(p)
            val = "nil" if res is None else str(res)
            if f == "write" and rng.random() < 0.04:
                w("{:index %d, :time %d, :type :info, :process %d, :f :write, :key %d, "
                  ":value %s, :error :timeout}\n" % (idx, t, p, k, val))
                p, next_process = next_process, next_process + 1
            else:
                w("{:index %d, :time %d, :type :ok, :process %d, :f :%s, :key %d, :value %s}\n"
                  % (idx, t, p, f, k, val))
            free.append(p)
            done += 1
        idx += 1


def list_append(n, w, rng):
    lists, appends, active, next_key = {}, {}, list(range(10)), 10
    free, open_ops = list(range(64)), {}
    idx = t = done = started = 0
    while done < n:
        t += rng.randint(1, 1000)
        if started < n and free and (not open_ops or rng.random() < 0.5):
            p = free.pop(rng.randrange(len(free)))
            invoke, result = [], []
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(active))
                k = active[i]
                if rng.random() < 0.5:
                    v = appends.get(k, 0) + 1
                    appends[k] = v
                    lists.setdefault(k, []).append(v)
                    invoke.append("[:append %d %d]" % (k, v))
                    result.append(invoke[-1])
                    if v >= 32:
                        active[i], next_key = next_key, next_key + 1
                else:
                    read = " ".join(map(str, lists.get(k, [])))
                    invoke.append("[:r %d nil]" % k)
                    result.append("[:r %d [%s]]" % (k, read))
            w("{:index %d, :time %d, :type :invoke, :process %d, :f :txn, :value [%s]}\n"
              % (idx, t, p, " ".join(invoke)))
            open_ops[p] = " ".join(result)
            started += 1
        else:
            p = rng.choice(list(open_ops))
            w("{:index %d, :time %d, :type :ok, :process %d, :f :txn, :value [%s]}\n"
              % (idx, t, p, open_ops.pop(p)))
            free.append(p)
            done += 1
        idx += 1


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("register", "list-append"):
        sys.exit(__doc__)
    kind, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(path, "w") as out:
        (register if kind == "register" else list_append)(n, out.write, random.Random(7))


if __name__ == "__main__":
    main()
