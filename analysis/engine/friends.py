"""Friend files: columns written beside input files, entry by entry, that a graph reads as
if the inputs held them (docs/engine.md, "STEP 1's friends"). A TTree input is joined to
its friends by RDataFrame (a friend chain, aligned entry for entry); an RNTuple input,
which RDataFrame joins to no TTree, reads them entry by entry in step with itself, on one
thread (analysis/cpp/frame.h, FriendReader). A friend column whose name the input has too
(the event number a friend keeps for the pairing check) is read under ``FRIEND_PREFIX`` +
its name."""

from dataclasses import dataclass

from analysis.engine.schema import entries, input_schema
from analysis.errors import TmetError

FRIEND_PREFIX = "tmet_friend_"


@dataclass(frozen=True)
class Friends:
    """The friend files of a graph's inputs: ``files`` (one per input file, in their order),
    their ``tree``, ``columns`` ((branch, name the graph reads it by, C++ type), ...) and
    ``by_entry`` (the inputs are RNTuples)."""

    tree: str
    files: tuple
    columns: tuple
    by_entry: bool

    def schema(self):
        """{column: C++ type} the friends add to the inputs' columns."""
        return {name: kind for _, name, kind in self.columns}

    def column_lines(self):
        """The columns as the C entry points take them: "branch name type"."""
        return [f"{branch} {name} {kind}" for branch, name, kind in self.columns]


def friends_of(files, tree, input_columns, by_entry):
    """The Friends ``files`` (``tree`` in each) of inputs whose columns are ``input_columns``."""
    columns = tuple((branch, FRIEND_PREFIX + branch if branch in input_columns else branch, kind)
                    for branch, kind in input_schema(files[0], tree).items())
    return Friends(tree, tuple(files), columns, by_entry)


def check_pairs(inputs, friends, tree="Events"):
    """Raise a TmetError naming both files where a friend has not the entries of its input
    (``inputs`` and ``friends.files`` in the same order; the event numbers are compared in
    the event loop, see ``mismatched_pair``)."""
    if len(inputs) != len(friends.files):
        raise TmetError(f"{len(inputs)} input file(s) but {len(friends.files)} friend file(s): "
                        f"{', '.join(friends.files)} for {', '.join(inputs)}")
    for path, friend in zip(inputs, friends.files):
        n, m = entries(path, tree), entries(friend, friends.tree)
        if n != m:
            raise TmetError(f"{friend} is not the friend of {path}: it has {m} entries, the input {n} (the input "
                            f"replaced after the friend was made?)")


def mismatched_pair(ROOT, inputs, friends, event="event", tree="Events"):
    """(input, friend, entry, its event in each) of the first entry whose event numbers differ
    between an input and its friend (None where none does): where an event loop's pairing
    check failed, which pair it was."""
    for path, friend in zip(inputs, friends.files):
        ours = ROOT.RDataFrame(tree, path).AsNumpy([event])[event]
        theirs = ROOT.RDataFrame(friends.tree, friend).AsNumpy([event])[event]
        differ = (ours != theirs).nonzero()[0]
        if len(differ):
            k = int(differ[0])
            return path, friend, k, int(ours[k]), int(theirs[k])
    return None
