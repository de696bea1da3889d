#!/usr/bin/env python3
"""Merges ember.tsv and peers.tsv (outputs of hitratio_table.sh with --only, same rows) into the
issue's 45-row table and checks the hit-ratio targets. Usage: hitratio_check.py [DIR]"""
import sys
d = sys.argv[1] if len(sys.argv) > 1 else '.'  # folder holding ember.tsv and peers.tsv
def load(p):
    rows = [l.rstrip('\n').split('\t') for l in open(p) if l.strip()]
    head, body = rows[0], rows[1:]
    return head, {(r[0], r[1]): dict(zip(head, r)) for r in body}, [(r[0], r[1]) for r in body]
eh, e, order = load(f'{d}/ember.tsv')
ph, p, _ = load(f'{d}/peers.tsv')
cols = ['ember-lru', 'ember-lfu', 'ember-fifo', 'ember-adaptive', 'moka', 'quick_cache', 'lru', 'foyer', 'opt']
peers = ['moka', 'quick_cache', 'lru', 'foyer']
print('| trace | size % | capacity | ' + ' | '.join(cols) + ' | best peer | adaptive − best | adaptive − LRU |')
print('|---|---:|---:|' + '---:|' * (len(cols) + 3))
sums = {c: 0.0 for c in cols}; best_sum = 0.0; n = 0; fails = []
for key in order:
    if key not in p: continue
    row = {**p[key], **e[key]}
    vals = {c: float(row[c]) for c in cols}
    best = max(vals[c] for c in peers)
    dbest = vals['ember-adaptive'] - best
    dlru = vals['ember-adaptive'] - vals['lru']
    for c in cols: sums[c] += vals[c]
    best_sum += best; n += 1
    mark = ''
    if dbest < -3: fails.append(f'{key}: {dbest:.2f} below best peer'); mark = ' ✗'
    if dlru < -1: fails.append(f'{key}: {dlru:.2f} below LRU'); mark = ' ✗'
    print(f'| {key[0]} | {key[1]} | {row["capacity"]} | ' + ' | '.join(f'{vals[c]:.2f}' for c in cols) + f' | {best:.2f} | {dbest:+.2f}{mark} | {dlru:+.2f} |')
print(f'| **mean of {n} rows** | | | ' + ' | '.join(f'**{sums[c]/n:.2f}**' for c in cols) + f' | **{best_sum/n:.2f}** | | |')
print()
print('target failures:' if fails else 'all row targets met', *fails, sep='\n  ')
