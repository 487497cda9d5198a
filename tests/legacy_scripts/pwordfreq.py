#!/usr/bin/env python
# encoding: utf-8
"""Parallel word frequency counter, after the IPython 0.10 example pwordfreq.py.

The text is scattered line by line, every engine counts the words of its
lines, and the counts are pulled back and merged. Needs a running controller
and at least one engine. Converted to Python 3 and nothing else (the text is
inline instead of davinci.txt).
"""

from itertools import repeat

from IPython.kernel import client

TEXT = """\
the quick brown fox jumps over the lazy dog
the dog sleeps and the fox runs
a lazy afternoon for a lazy dog
"""


def wordfreq(text):
    """Return a dictionary of words and word counts in a string."""
    freqs = {}
    for word in text.split():
        freqs[word] = freqs.get(word, 0) + 1
    return freqs


def print_wordfreq(freqs, n=10):
    """Print the n most common words and counts in the freqs dict."""
    words, counts = list(freqs.keys()), list(freqs.values())
    items = sorted(zip(counts, words), key=lambda item: (-item[0], item[1]))
    for (count, word) in items[:n]:
        print(word, count)


def pwordfreq(rc, text):
    """Parallel word frequency counter.

    rc - A MultiEngineClient
    text - The name of a string on the engine to do the freq count on.
    """
    rc.scatter('textlines', text.split('\n'))
    rc.execute('freqs = wordfreq(" ".join(textlines))')
    freqs_list = rc.pull('freqs')
    word_set = set()
    for f in freqs_list:
        word_set.update(f.keys())
    freqs = dict(zip(word_set, repeat(0)))
    for f in freqs_list:
        for word, count in f.items():
            freqs[word] += count
    return freqs


if __name__ == '__main__':
    rc = client.MultiEngineClient()
    rc.push_function(dict(wordfreq=wordfreq))
    print("Interactive serial word frequency count:")
    print_wordfreq(wordfreq(TEXT), 5)
    print("Parallel word frequency count:")
    freqs = pwordfreq(rc, TEXT)
    print_wordfreq(freqs, 5)
    print("Words per engine:", sum(freqs.values()) // len(rc.get_ids()))
    print("Serial and parallel counts agree:", freqs == wordfreq(TEXT))
