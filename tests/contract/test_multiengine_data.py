"""The multiengine contract: functions, numpy arrays, scatter/gather, map and properties."""

import numpy
import pytest

from kernel import client

# -- functions -------------------------------------------------------------------------


def double(x):
    return 2.0 * x


def test_push_of_lambdas_defaults_and_closures(mec):
    offset = 100

    def scale(x, factor=3, *, plus=1):
        return x * factor + plus + offset

    mec.push(dict(f=lambda x, y=3: x * y, g=scale))
    mec.execute("r = (f(2), f(2, 4), g(1), g(1, 2, plus=0))")
    assert mec.pull("r") == [(6, 8, 104, 102)] * 4


def test_push_function_and_use_it(mec):
    def f(x):
        return 2.0 * x**4

    assert mec.push_function(dict(f=f)) == [None] * 4
    mec.execute("y = f(4.0)")
    assert mec.pull("y") == [512.0] * 4
    mec.push_function(dict(f=double))  # a module-level function travels too
    mec.execute("y = f(10)")
    assert mec.pull("y") == [20.0] * 4


def test_push_function_rejects_non_functions(mec):
    with pytest.raises(TypeError, match="function object expected for 'a', not int"):
        mec.push_function(dict(a=1))


def test_pull_function_by_name_and_by_names(mec):
    mec.push_function(dict(f=lambda x: 2.0 * x))
    mec.execute("def g(x):\n    return x*x")
    fs = mec.pull_function("f")
    assert len(fs) == 4 and fs[0](10) == 20.0
    both = mec.pull_function(("f", "g"), targets=0)
    assert both[0][0](10) == 20.0
    assert both[0][1](10) == 100


def test_pushed_functions_see_the_engine_namespace(mec):
    def g(x):
        return globala * x  # noqa: F821 - defined on the engines only

    mec.push(dict(globala=99))
    mec.push_function(dict(g=g))
    mec.execute("r = g(10)")
    assert mec.pull("r") == [990] * 4
    mec.execute("globala = id")
    mec.execute("r = g(10)")
    assert mec.pull("r") == [0, 10, 20, 30]


def test_pushed_functions_bring_what_they_use(mec):
    import math

    base = {"k": 7}

    def uses_module_and_values(x):
        return math.floor(x) + base["k"]

    mec.push(dict(h=uses_module_and_values))
    mec.execute("r = h(2.5)")
    assert mec.pull("r") == [9] * 4


def test_recursive_and_global_writing_functions(mec):
    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)

    def bump():
        global counter
        counter = counter + 1

    mec.push(dict(fact=fact, bump=bump, counter=0))
    mec.execute("r = fact(5); bump(); bump()")
    assert mec.pull(("r", "counter")) == [[120, 2]] * 4


def test_classes_and_instances_travel(mec):
    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y

        def norm2(self):
            return self.x**2 + self.y**2

    mec.push(dict(p=Point(3, 4)))
    mec.execute("n = p.norm2(); p.x = id")
    assert mec.pull("n") == [25] * 4
    assert [p.x for p in mec.pull("p")] == [0, 1, 2, 3]


# -- numpy -----------------------------------------------------------------------------


@pytest.mark.parametrize("array", [
    numpy.arange(10.0),
    numpy.linspace(0, 1, 100_000),
    numpy.arange(24, dtype=numpy.int16).reshape(2, 3, 4),
    numpy.asfortranarray(numpy.arange(20_000, dtype=numpy.complex128).reshape(100, 200)),
    numpy.arange(40_000, dtype=numpy.uint8)[::3],
    numpy.zeros(0),
    numpy.array(3.5),
    numpy.array([(1, 2.0), (3, 4.0)], dtype=[("a", "i4"), ("b", "f8")]),
], ids=["small", "large", "int16-3d", "fortran-complex", "strided", "empty", "0-d", "record"])
def test_arrays_arrive_writable_with_dtype_and_shape(mec, array):
    mec.push(dict(a=array), targets=[0, 1])
    info = mec.execute("info = (a.dtype.str, a.shape, a.flags.writeable)\n"
                       "if a.dtype.names is None:\n    a += 1", targets=[0, 1])
    assert len(info) == 2
    for pulled in mec.pull("info", targets=[0, 1]):
        assert pulled == (array.dtype.str, array.shape, True)
    for back in mec.pull("a", targets=[0, 1]):
        assert back.dtype == array.dtype and back.shape == array.shape
        assert back.flags.writeable
        expected = array if array.dtype.names else array + 1
        numpy.testing.assert_array_equal(back, expected)
        back[...] = 0  # writable here too


def test_push_serialized_and_pull_serialized_move_arrays(mec):
    a = numpy.random.default_rng(1).random((300, 300))
    assert mec.push_serialized(dict(a=a, b="text")) == [None] * 4
    values = mec.pull_serialized(("a", "b"))
    for value_a, value_b in values:
        numpy.testing.assert_array_equal(value_a, a)
        assert value_b == "text"
    assert mec.pull_serialized("b") == ["text"] * 4


# -- scatter and gather ------------------------------------------------------------------


def test_scatter_is_contiguous_blocks_first_ones_longer(mec):
    assert mec.scatter("s", range(10)) == [None] * 4
    assert mec.pull("s") == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    assert mec.gather("s") == list(range(10))
    mec.scatter("a", range(16))
    assert mec.pull("a") == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]


def test_scatter_and_gather_of_various_sequences(mec):
    mec.scatter("t", (1, 2, 3, 4, 5))
    assert mec.pull("t") == [(1, 2), (3,), (4,), (5,)]
    assert mec.gather("t") == [1, 2, 3, 4, 5]  # tuples become a list
    mec.scatter("s", "abcdefgh")
    assert mec.pull("s") == ["ab", "cd", "ef", "gh"]
    assert mec.gather("s") == ["ab", "cd", "ef", "gh"]  # strings are not joined
    mec.scatter("g", (x * x for x in range(5)))
    assert mec.gather("g") == [0, 1, 4, 9, 16]
    mec.scatter("few", [1, 2])
    assert mec.pull("few") == [[1], [2], [], []]
    assert mec.gather("few") == [1, 2]


def test_scatter_and_gather_arrays(mec):
    mec.scatter("x", numpy.arange(10))
    parts = mec.pull("x")
    assert [p.tolist() for p in parts] == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    gathered = mec.gather("x")
    assert isinstance(gathered, numpy.ndarray)
    numpy.testing.assert_array_equal(gathered, numpy.arange(10))
    big = numpy.random.default_rng(0).random((1001, 7))
    mec.scatter("big", big)
    numpy.testing.assert_array_equal(mec.gather("big"), big)


def test_scatter_flatten_and_targets(mec):
    mec.scatter("one", [10, 20, 30, 40], flatten=True)
    assert mec.pull("one") == [10, 20, 30, 40]
    mec.scatter("sub", range(5), targets=[3, 1])
    assert mec.pull("sub", targets=[3, 1]) == [[0, 1, 2], [3, 4]]
    assert mec.gather("sub", targets=[3, 1]) == [0, 1, 2, 3, 4]


def test_scatter_and_gather_non_blocking(mec):
    pr = mec.scatter("a", range(16), block=False)
    assert pr.r == [None] * 4
    assert mec.gather("a", block=False).r == list(range(16))


def test_parallel_list_comprehension(mec):
    mec.scatter("x", range(64))
    mec.execute("y = [i**10 for i in x]")
    assert mec.gather("y") == [i**10 for i in range(64)]


def test_scatter_and_gather_errors(mec):
    with pytest.raises(client.CompositeError) as e:
        mec.gather("asdf")
    assert isinstance(e.value.elist[0][1], NameError)
    with pytest.raises(ValueError, match="unknown distribution 'x'"):
        mec.scatter("a", range(4), dist="x")
    with pytest.raises(TypeError, match="cannot partition a int"):
        mec.scatter("a", 5)
    with pytest.raises(TypeError, match="key must be a str"):
        mec.gather(5)


# -- map, mapper and parallel ------------------------------------------------------------------


def test_map_is_like_the_builtin_map(mec):
    assert mec.map(lambda x: x**10, range(32)) == [x**10 for x in range(32)]
    assert mec.map(lambda x, y: x + y, [1, 2, 3], (10, 20, 30)) == [11, 22, 33]
    assert mec.map(double, numpy.arange(5)) == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_raw_map_takes_a_list_of_sequences(mec):
    assert mec.raw_map(lambda x, y: x * y, [range(5), range(5)]) == [0, 1, 4, 9, 16]
    assert mec.raw_map(lambda x: -x, [range(3)], targets=[2]) == [0, -1, -2]
    assert mec.raw_map(abs, [[-1, -2]], block=False).r == [1, 2]


def test_map_with_fewer_items_than_engines(mec):
    assert mec.map(lambda x: x + 1, range(2)) == [1, 2]
    assert mec.map(lambda x: x + 1, []) == []
    assert mec.map(abs, [-3]) == [3]


def test_map_by_name_of_a_function_on_the_engines(mec):
    mec.execute("def triple(x):\n    return 3 * x\nimport math")
    assert mec.map("triple", range(6)) == [0, 3, 6, 9, 12, 15]
    assert mec.map("math.sqrt", [4, 9]) == [2.0, 3.0]
    with pytest.raises(client.CompositeError, match="NameError"):
        mec.map("nosuch", [1])
    with pytest.raises(ValueError, match="does not name a function"):
        mec.map("not a name", [1])


def test_map_honours_targets_and_block(mec):
    mec.targets = [1, 2]
    assert mec.map(lambda x: (x, id), range(3)) == [(0, 1), (1, 1), (2, 2)]
    mec.block = False
    pr = mec.map(lambda x: 2 * x, range(10))
    assert isinstance(pr, client.PendingResult)
    assert pr.r == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]


def test_map_errors(mec):
    with pytest.raises(client.CompositeError) as e:
        mec.map(lambda x: 1 / x, range(8))
    assert str(e.value).splitlines() == [
        "one or more exceptions from call to method: map",
        "[0:map]: ZeroDivisionError: division by zero"]
    with pytest.raises(ValueError, match="all sequences must have equal length"):
        mec.map(lambda x, y: x, [1, 2], [1])
    with pytest.raises(TypeError, match="func must be a function or a str"):
        mec.map(5, [1])
    with pytest.raises(TypeError, match="needs at least one sequence"):
        mec.map(abs)


def test_mapper_defaults_and_options(mec):
    m = mec.mapper()
    assert (m.dist, m.targets, m.block, m.multiengine) == ("b", "all", True, mec)
    nb = mec.mapper(block=False)
    pr = nb.map(lambda x: 2 * x, range(10))
    assert pr.r == [2 * x for x in range(10)]
    assert mec.mapper(targets=[0]).map(lambda x: id, range(3)) == [0, 0, 0]


def test_parallel_decorator(mec):
    @mec.parallel()
    def f(x):
        return 10.0 * x**4

    assert f(range(32)) == [10.0 * x**4 for x in range(32)]
    assert f.__name__ == "f"

    @mec.parallel(targets=[3], block=False)
    def where(x):
        return id

    assert where(range(4)).r == [3, 3, 3, 3]


# -- properties ----------------------------------------------------------------------------------


def test_properties(mec):
    props = dict(a=5, b="asdf", c=True, d=None, e=list(range(5)))
    assert mec.set_properties(props) == [None] * 4
    assert mec.get_properties() == [props] * 4
    assert mec.get_properties(("c",)) == [{"c": True}] * 4
    assert mec.get_properties("a", targets=1) == [{"a": 5}]
    mec.del_properties(("b", "e"))
    assert mec.has_properties(("a", "b", "c", "d", "e")) == [[True, False, True, True, False]] * 4
    assert mec.has_properties("a", targets=0) == [[True]]
    assert mec.clear_properties() == [None] * 4
    assert mec.get_properties() == [{}] * 4


def test_properties_are_per_engine_and_copied(mec):
    mec.set_properties(dict(l=[1]), targets=[0])
    mec.set_properties(dict(l=[2]), targets=[1])
    assert mec.get_properties("l", targets=[0, 1, 2]) == [{"l": [1]}, {"l": [2]}, {}]
    mec.reset(targets=0)
    assert mec.get_properties(targets=[0, 1]) == [{}, {"l": [2]}]


def test_property_values_must_pickle(mec):
    with pytest.raises(client.CompositeError, match="InvalidProperty: can't be a value"):
        mec.set_properties(dict(f=lambda _: None), targets=0)
    import threading

    with pytest.raises(client.SerializationError, match="set_properties: cannot send 'lock'"):
        mec.set_properties(dict(lock=threading.Lock()))
    with pytest.raises(TypeError, match="set_properties takes a dict"):
        mec.set_properties(["a"])
