"""Behaviour-preserving speed-ups for moto's DynamoDB, used only by the local stand-in.

Why: moto 5.2.5 is very slow for items with nested lists and maps, and our execution items are
exactly that (2 waves x 5 servers). The hot spots, found by profiling (cProfile and py-spy):

1. The generic response serializer (``moto.core.serialize``, reached through
   ``DynamoResult.execute_result``) walks every AttributeValue of every returned item through
   ``XFormedAttributePicker`` alias look-ups: ~30 ms per returned item. A GetItem of one
   execution item took 42 ms; with the fast path 10.6 ms.
2. ``Item.project`` converts the WHOLE item (deepcopy-based ``to_regular_json``) once per
   projection expression: a Query over the status index with
   ``ProjectionExpression="ExecutionId, #s, StartTime"`` cost ~6 ms per item (300 items: 1.2 s)
   although it needs three top-level attributes.
3. UpdateItem, the daemon's most frequent call (every save: SET x6, REMOVE x3, a version and
   lease condition), and what limits every large benchmark. Per call moto parsed the same
   UpdateExpression twice, deep-copied its AST, walked it ten times with a processing map rebuilt
   and ABC ``isinstance`` checks run per node (two of the checks ran ``find_clauses`` under each of
   ~40 nodes), re-sized the whole item for each SET (sizing a map copies it), deep-copied the item
   twice and converted it to JSON with a deepcopy per nesting level, and tokenised the
   ConditionExpression with six regexes per position. Now: one parse per expression string (the
   AST is only read, or copied by the validator; ``_clone_ast`` copies it), the read-only checks
   remembered per AST and the inputs they read, one look-up per node class in the walks, the
   condition's tokens cached per string, and direct DynamoType construction, sizing (still once
   per SET, as moto checks the size limit; a new item once, not once per attribute), copying and
   conversion.
4. The request side: moto's JSON request parser looked up all ten AttributeValue members for every
   node of a request's items, and the server listed moto's package directory (~170 ``isdir``) to
   route every request.

Measured by ``bench/micro_moto.py --items 100 --rounds 5`` (in-process, ms per call, moto /
speed-ups; the machine is shared, so +-20%): GetItem 10.7 / 2.1, PutItem 3.9 / 2.6, UpdateItem
(conditional) 8.7 / 4.1, UpdateItem (the daemon's save) 11.3 / 5.9, projected Query per item
6.8 / 0.5. Those include the boto3 client's own ~1.5 ms per call; inside moto, i.e. what a moto
server spends per request: GetItem 9.1 / 1.1, PutItem 2.5 / 1.4, UpdateItem (conditional) 6.9 /
2.7, the daemon's save 9.4 / 4.4. Through a moto server (``--http``) the save went from ~21 to
~11 ms per call, client and HTTP included.

The patches change how fast moto answers, not what (byte for byte; the one exception, a map key
"" that moto garbles, is noted in the code): the serializer still runs moto's own code for
everything but the item payloads (AttributeValue maps), which it hands to ``json.dumps`` as they
are (bytes base64-encoded); anything else it cannot encode plainly falls back to moto's
serializer. ``Item.project`` converts only the top-level attribute each expression names and then
applies moto's own ``find_nested_key``/``merge_dicts``, so the result is the same. Each other patch
does moto's own steps, or skips one whose outcome is already known, and hands any input it does
not recognise to moto's code; errors (a bad expression, a failed condition) are moto's because
failures are never cached. ``tests/unit/test_local_moto_speedups.py`` pins the equivalence;
``bench/micro_moto.py`` measures.

They are installed by ``poller.local.make_moto_server`` only, i.e. into the process that runs the
local moto stand-in (demo, integration tests, benchmarks): the daemon talking to AWS never imports
moto. ``POLLER_MOTO_SPEEDUPS=0`` disables them.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections import deque
from collections.abc import Iterator
from typing import Any

ENV_VAR = "POLLER_MOTO_SPEEDUPS"

# DynamoDB data-plane operations whose results carry items; everything else keeps moto's path.
# (BatchWriteItem and TransactWriteItems answer with a plain ActionResult, not a DynamoResult, so
# they never reach the patched method; they are listed for completeness.)
FAST_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)

# find_nested_key's own test for a list-index path element: 'name[3]' -> ('name', '3').
_LIST_ELEMENT = re.compile(r"(.+)\[(\d+)\]$")

_originals: dict[str, Any] = {}


class _Moto:
    """moto's classes the patches use, bound by ``install`` (importing moto here would load it into
    every process that imports poller.local; and an import per call costs in the per-node code)."""

    DynamoType: Any = None
    Node: Any = None
    DepthFirstTraverser: Any = None
    ActionCountValidator: Any = None
    OverlappingPathsValidator: Any = None
    UpdateHashRangeKeyValidator: Any = None
    ActionNodes: tuple[type, ...] = ()


_fast_serializers: dict[type, type] = {}


class _NotPlain(Exception):
    """A value in an item payload that plain ``json.dumps`` (plus bytes) cannot encode."""


def _encode_bytes(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        # What ResponseSerializer._base64 produces for a blob.
        return base64.b64encode(value).strip().decode("utf-8")
    raise _NotPlain(type(value).__name__)


def _fast_serializer_class(base: type) -> type:
    """``base`` (moto's JSONSerializer) with AttributeValue maps passed through, not walked."""
    cls = _fast_serializers.get(base)
    if cls is not None:
        return cls

    class FastItemSerializer(base):
        def _serialize(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
            # An item, a key or any other AttributeName -> AttributeValue map: moto holds it as
            # {"name": {"S": "..."}, ...} already (DynamoType expanded by dynamo_to_dict), which
            # is its wire form except for bytes, which _encode_bytes handles in json.dumps.
            # (One known difference: moto's walk garbles a map key "" inside an M value into an
            # unparseable body; passed through, it stays {"": {...}}. Our items have none.)
            if (
                key
                and isinstance(value, dict)
                and shape.type_name == "map"
                and getattr(shape.value, "name", None) == "AttributeValue"
            ):
                serialized[self.get_serialized_name(shape, key)] = value
                return
            super()._serialize(serialized, value, shape, key)

        def _serialize_body(self, body: Any) -> str:
            return json.dumps(body, indent=4 if self.pretty_print else None, default=_encode_bytes)

    FastItemSerializer.__name__ = FastItemSerializer.__qualname__ = f"FastItem{base.__name__}"
    _fast_serializers[base] = FastItemSerializer
    return FastItemSerializer


def _fast_execute_result(self: Any, context: Any) -> Any:
    from moto import settings
    from moto.core.serialize import XFormedAttributePicker

    original = _originals["DynamoResult.execute_result"]
    transformers = getattr(context.response, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None)
    if (
        context.operation_model.name not in FAST_OPERATIONS
        or not isinstance(self.result, dict)
        or transformers  # a transformer could target a path inside an item: walk it all
    ):
        return original(self, context)
    # The same construction as ActionResult.execute_result, with the item payloads passed through.
    serializer = _fast_serializer_class(context.serializer_class)(
        operation_model=context.operation_model,
        pretty_print=settings.PRETTIFY_RESPONSES,
        value_picker=XFormedAttributePicker(response_transformers=transformers),
    )
    try:
        serialized = serializer.serialize(self.result)
    except _NotPlain:
        return original(self, context)
    return serialized["status_code"], serialized["headers"], serialized["body"]


def _fast_project(self: Any, projection_expressions: list[list[str]]) -> Any:
    from moto.dynamodb.models import dynamo_type as dt

    # As Item.project, but each expression gets a fresh conversion of only the top-level
    # attribute it names instead of the whole item: find_nested_key looks at no other key of
    # its dict, and a fresh one per expression keeps merge_dicts' aliasing exactly as before.
    result: dict[str, Any] = {}
    for expr in projection_expressions:
        match = _LIST_ELEMENT.match(expr[0])
        name = match.group(1) if match else expr[0]
        attribute = self.attrs.get(name)
        dct = {} if attribute is None else {name: dt.deserializer.deserialize(attribute.to_regular_json())}
        x = dt.find_nested_key(expr, dct)
        dt.merge_dicts(result, x)
    return dt.Item(
        hash_key=self.hash_key,
        range_key=self.range_key,
        attrs=dt.serializer.serialize(result)["M"],
    )


# --- UpdateItem: parse once, copy and walk the AST cheaply, size and convert items directly ---

# Parsed UpdateExpressions by expression string; moto parses each one twice per UpdateItem.
_update_asts: dict[str, Any] = {}
_UPDATE_AST_CACHE_SIZE = 512
# id() of each cached AST -> the read-only checks it passed, with their inputs (_check_key).
_passed_checks: dict[int, set[tuple[Any, ...]]] = {}
_PASSED_CHECKS_PER_AST = 64


def _cached_update_expression(cls: Any, expression: str) -> Any:
    """``UpdateExpressionParser.make``, parsed once per expression string.

    The AST depends on the string only (names and values stay placeholders until the validator
    resolves them), and no caller in moto changes it: the handlers only ``find_clauses`` in it,
    and the ``Validator`` works on its own copy. A string that fails to parse is not cached, so
    it raises moto's own error every time.
    """
    ast = _update_asts.get(expression)
    if ast is None:
        ast = _originals["UpdateExpressionParser.make"].__func__(cls, expression)
        if len(_update_asts) >= _UPDATE_AST_CACHE_SIZE:
            _update_asts.clear()
            _passed_checks.clear()
        _update_asts[expression] = ast
        _passed_checks[id(ast)] = set()
    return ast


_NODE_ATTRIBUTES = {"type", "children", "parent"}
_plain_nodes: dict[type, bool] = {}  # AST node classes (a Node subclass: True), for _clone_ast


def _clone_ast(node: Any, memo: dict[int, Any]) -> Any:
    """``copy.deepcopy`` of an update-expression AST, without deepcopy's generic dispatch.

    A Node holds ``type`` (a str), ``children`` (Nodes and strs) and ``parent``; anything else
    (a subclass with more state, a value that is neither) goes to ``copy.deepcopy`` with the same
    memo, so shared references and parent links come out as deepcopy makes them.
    """
    if isinstance(node, str) or node is None:
        return node
    done = memo.get(id(node))
    if done is not None:
        return done
    kind = type(node)
    plain = _plain_nodes.get(kind)
    if plain is None:
        plain = _plain_nodes[kind] = issubclass(kind, _Moto.Node)
    if not plain or node.__dict__.keys() != _NODE_ATTRIBUTES:
        return copy.deepcopy(node, memo)
    clone = object.__new__(kind)
    memo[id(node)] = clone
    children = node.children
    clone.__dict__.update(
        type=node.type,
        children=None if children is None else [_clone_ast(child, memo) for child in children],
        parent=_clone_ast(node.parent, memo),
    )
    return clone


def _fast_validator_init(
    self: Any,
    expression: Any,
    expression_attribute_names: Any,
    expression_attribute_values: Any,
    item: Any,
    table: Any,
) -> None:
    # As Validator.__init__, with _clone_ast for its deepcopy of the (shared, cached) AST.
    self.expression_attribute_names = expression_attribute_names
    self.expression_attribute_values = expression_attribute_values
    self.item = item
    self.table = table
    self.processors = self.get_ast_processors()
    self.node_to_validate = _clone_ast(expression, {})
    self.poller_source_ast = expression


def _check_key(processor: Any) -> tuple[Any, ...] | None:
    """What a read-only check of the validator depends on besides the AST; None: not one of them.

    These three only read the AST (each raises or returns every node as it is) and run before
    any processor rewrites it, so a verdict holds for the same AST and the same inputs.
    """
    kind = type(processor)
    if kind is _Moto.ActionCountValidator:  # at most one SET, REMOVE, ADD clause
        return ("clauses",)
    names = processor.__dict__.get("expression_attribute_names")
    frozen_names = None if names is None else tuple(names.items())
    key: tuple[Any, ...]
    if kind is _Moto.OverlappingPathsValidator:  # no path set twice
        key = ("overlaps", frozen_names)
    elif kind is _Moto.UpdateHashRangeKeyValidator:  # no key attribute updated
        key = ("keys", tuple(processor.table_key_attributes), frozen_names)
    else:
        return None
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _fast_validate(self: Any) -> Any:
    """``Validator.validate``, skipping the read-only checks a cached AST already passed.

    ``ActionCountValidator`` and ``OverlappingPathsValidator`` run ``find_clauses`` over the
    subtree of each of the ~40 clause nodes they visit; their verdict, and that of
    ``UpdateHashRangeKeyValidator``, depends only on the AST and the inputs ``_check_key`` names,
    so a pass is remembered per cached AST. The processors that resolve and rewrite always run,
    and so does any check after the first of them.
    """
    passed = _passed_checks.get(id(getattr(self, "poller_source_ast", None)))
    n = self.node_to_validate
    for processor in self.processors:
        key = None if passed is None else _check_key(processor)
        if passed is None or key is None:
            passed = None  # from the first other processor on the AST is rewritten: run all
            n = processor.traverse(n)
        elif key not in passed:
            n = processor.traverse(n)
            if len(passed) < _PASSED_CHECKS_PER_AST:
                passed.add(key)
    return n


_resolving_parents: dict[type, bool] = {}  # node class -> is it an action (SET, REMOVE, ...)?


def _fast_resolving_hook(self: Any, parent_node: Any, child_id: int) -> None:
    """``ExpressionAttributeResolvingProcessor.pre_processing_of_child``, its ABC ``isinstance``
    against the four action classes done once per class: resolve every child of an action but
    its first (the path being set)."""
    kind = type(parent_node)
    is_action = _resolving_parents.get(kind)
    if is_action is None:
        is_action = _resolving_parents[kind] = issubclass(kind, _Moto.ActionNodes)
    if is_action:
        self.resolving = child_id != 0


def _fast_traverse(self: Any, node: Any) -> Any:
    """``DepthFirstTraverser.traverse`` with its per-node look-ups done once per node type.

    moto rebuilds the processing map and runs ABC ``isinstance`` checks for every node of every
    one of the validator's ten walks; which processor a node gets depends only on its class, so
    it is looked up once per class here. The walk itself (order, parent links, replacement of a
    processed child in its parent) is moto's. A traverser that overrides how nodes are found or
    processed keeps moto's walk.
    """
    cls = type(self)
    if (
        cls.traverse_node_recursively is not _Moto.DepthFirstTraverser.traverse_node_recursively
        or cls.process is not _Moto.DepthFirstTraverser.process
        or cls.nodes_to_be_processed is not _Moto.DepthFirstTraverser.nodes_to_be_processed
    ):
        return self.traverse_node_recursively(node)
    mapping = self._processing_map()
    base = _Moto.DepthFirstTraverser
    hook = (
        None if cls.pre_processing_of_child is base.pre_processing_of_child else self.pre_processing_of_child
    )
    processors: dict[type, Any] = {}

    def processor_for(kind: type) -> Any:
        found: Any = False
        if issubclass(kind, _Moto.Node):
            found = None
            for class_key, processor in mapping.items():
                if issubclass(kind, class_key):
                    found = processor
                    break
        processors[kind] = found
        return found

    def walk(node: Any, child_id: int) -> Any:
        kind = type(node)
        processor = processors[kind] if kind in processors else processor_for(kind)
        if processor is False:  # not a Node: left as it is
            return node
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                if hook is not None:
                    hook(node, i)
                walk(child_node, i)
        if processor is not None:
            node = processor(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    return walk(node, -1)


def _fast_dynamo_type_init(self: Any, type_as_dict: Any) -> None:
    """``DynamoType.__init__`` for its common inputs, an AttributeValue dict or a DynamoType.

    moto builds two lists to take the one key and value, and calls ``is_list``/``is_map`` for
    every node; every request value and every stored item is built this way, node by node. The
    attributes set are moto's; anything but a dict with a key or a DynamoType goes to moto.
    """
    if type(type_as_dict) is _Moto.DynamoType:
        kind, value = type_as_dict.type, type_as_dict.value
    elif type(type_as_dict) is dict and type_as_dict:
        kind, value = next(iter(type_as_dict.items()))
    else:
        _originals["DynamoType.__init__"](self, type_as_dict)
        return
    self.type = kind
    if kind == "L":
        self.value = [_Moto.DynamoType(v) for v in value]
    elif kind == "M":
        self.value = {k: _Moto.DynamoType(v) for k, v in value.items()}
    else:
        self.value = value


def _fast_item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    """``Item.__init__`` with ``LimitedSizeDict``'s size check done on a running total.

    moto sets each attribute through ``LimitedSizeDict.__setitem__``, which re-sizes every
    attribute already set: a PutItem sized the item once per attribute. While the item is being
    built nothing else can change those attributes, so their sizes (counted as that method counts
    them) are added up as they are set; the check and its error are the same. An attribute name
    that is not a str (moto would fail or count it differently) goes to moto's own method.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    current = 0  # LimitedSizeDict.__setitem__'s current_item_size, kept up to date
    for key, value in attrs.items():
        attribute = _Moto.DynamoType(value)
        if type(key) is not str:
            self.attrs[key] = attribute
            current = sum(_limited_size(item) for item in (*self.attrs.keys(), *self.attrs.values()))
            continue
        added = _bytesize(key) + attribute.size()
        if current + added > _ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, key, attribute)
        current += added


# LimitedSizeDict.__setitem__'s limit (moto: "between 409 and 410KB" in practice).
_ITEM_SIZE_LIMIT = 405000


def _limited_size(item: Any) -> int:
    # How LimitedSizeDict.__setitem__ counts a key or a value of the item.
    from moto.dynamodb.models.utilities import bytesize

    return int(item.size()) if type(item) is _Moto.DynamoType else bytesize(str(item))


_SETS = frozenset({"SS", "NS", "BS"})


def _bytesize(value: Any) -> int:
    # moto's bytesize (UTF-8 length of a str, length of bytes), without encoding ASCII text.
    if isinstance(value, str) and value.isascii():
        return len(value)
    return len(value if isinstance(value, bytes) else value.encode("utf-8"))


def _scalar_size(kind: str, value: Any) -> int:
    # DynamoType.size of a value that is neither a set, a list nor a map.
    if kind == "N":
        return len(str(value))
    if value is True or value is False:
        return 1
    return _bytesize(value)


def _fast_size(self: Any) -> int:
    """``DynamoType.size`` without rebuilding every map value as a new DynamoType to size it.

    moto's map branch sizes ``DynamoType(v)``, a recursive copy of ``v``, so sizing an item costs
    a copy of it; and ``LimitedSizeDict`` sizes the whole item again on every attribute it sets
    (each one of a PutItem, each SET of an UpdateItem): half the time of our UpdateItem. The
    sizes are the same: a DynamoType's copy has its type and values, and the walk here is moto's
    with its scalar cases inlined; anything else still goes through moto's own code.
    """
    kind, value = self.type, self.value
    if kind == "M":
        total = 0
        for key, child in value.items():
            total += _bytesize(key)
            if type(child) is not _Moto.DynamoType:
                total += _Moto.DynamoType(child).size()
            elif child.type in _CONTAINERS:
                total += _fast_size(child)
            else:
                total += _scalar_size(child.type, child.value)
        return total
    if kind == "L":
        total = 0
        for child in value:
            if type(child) is not _Moto.DynamoType:
                total += child.size()
            elif child.type in _CONTAINERS:
                total += _fast_size(child)
            else:
                total += _scalar_size(child.type, child.value)
        return total
    if kind in _SETS:
        return sum(_scalar_size(kind[0], v) for v in value)
    return _scalar_size(kind, value)


_CONTAINERS = _SETS | {"L", "M"}


def _fast_dynamo_type_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
    """``DynamoType.__deepcopy__`` without a ``copy.deepcopy`` dispatch per nested DynamoType.

    moto copies the whole item twice per UpdateItem (the handler's "existing" item and the
    backend's stream image). The copy is moto's, node for node, memo included; a nested value
    that is not a DynamoType still goes through ``copy.deepcopy``.
    """
    done = memo.get(id(self))
    if done is not None:
        return done
    result = self.__class__.__new__(self.__class__)
    memo[id(self)] = result
    kind = result.type = self.type
    value = self.value
    if kind == "L":
        result.value = [_copy_child(v, memo) for v in value]
    elif kind == "M":
        result.value = {k: _copy_child(v, memo) for k, v in value.items()}
    elif kind in _SETS:
        result.value = list(value)
    else:
        result.value = value
    return result


def _copy_child(value: Any, memo: dict[int, Any]) -> Any:
    if type(value) is _Moto.DynamoType:
        return _fast_dynamo_type_deepcopy(value, memo)
    return copy.deepcopy(value, memo)


def _fast_to_regular_json(self: Any) -> dict[str, Any]:
    """``DynamoType.to_regular_json`` without deep-copying each subtree once per level.

    moto deep-copies the whole value and then converts each nested DynamoType, which copies its
    subtree again: a list of maps of lists is copied once per nesting level. Converting each
    nested DynamoType directly builds the same fresh dicts and lists; anything else in the value
    is still deep-copied.
    """
    value = self.value
    if isinstance(value, dict):
        value = {
            k: v.to_regular_json() if isinstance(v, _Moto.DynamoType) else copy.deepcopy(v)
            for k, v in value.items()
        }
    elif isinstance(value, list):
        value = [v.to_regular_json() if isinstance(v, _Moto.DynamoType) else copy.deepcopy(v) for v in value]
    else:
        value = copy.deepcopy(value)
    if self.type == "B" and isinstance(value, str):
        value = base64.b64decode(value)
    return {self.type: value}


# Condition/filter expression string -> its tokens, as (nonterminal, text) pairs.
_condition_tokens: dict[str, tuple[tuple[str, str], ...]] = {}


def _cached_lex_condition_expression(self: Any) -> Any:
    """``ConditionExpressionParser._lex_condition_expression``, tokenised once per string.

    moto tokenises a ConditionExpression by trying six regular expressions at every position,
    on every request. The tokens depend on the string only; each request gets fresh nodes, built
    as moto builds them (a LITERAL whose value is its text, no children). A string that fails
    to tokenise is not cached, so it raises moto's own error every time.
    """
    expression = self.condition_expression
    tokens = _condition_tokens.get(expression) if isinstance(expression, str) else None
    if tokens is None:
        nodes = _originals["ConditionExpressionParser._lex_condition_expression"](self)
        if isinstance(expression, str) and all(_is_plain_token(self, node) for node in nodes):
            if len(_condition_tokens) >= _UPDATE_AST_CACHE_SIZE:
                _condition_tokens.clear()
            _condition_tokens[expression] = tuple((node.nonterminal, node.text) for node in nodes)
        return nodes
    literal = self.Kind.LITERAL
    return deque(
        self.Node(nonterminal=nonterminal, kind=literal, text=text, value=text, children=[])
        for nonterminal, text in tokens
    )


def _is_plain_token(parser: Any, node: Any) -> bool:
    return node.kind == parser.Kind.LITERAL and node.value == node.text and node.children == []


def _fast_parse_structure(self: Any, shape: Any, value: Any) -> Any:
    """``BaseJSONParser._parse_structure`` for an AttributeValue, which has exactly one key.

    moto parses each request's items member by member against the model: for every
    AttributeValue node it looks up all ten members (S, N, B, ... L, M) to find the one present.
    Here the present member is looked up directly and parsed by moto's own ``_parse_shape``, into
    the same map type; anything else (another shape, no or several keys, a key that is not a
    member, a renamed member) keeps moto's loop.
    """
    if shape.name == "AttributeValue" and type(value) is dict and len(value) == 1:
        for key, raw in value.items():
            member_shape = shape.members.get(key)
            if member_shape is not None and member_shape.serialization.get("name", key) == key:
                parsed = self.MAP_TYPE()
                if raw is not None:
                    parsed[key] = self._parse_shape(member_shape, raw)
                return parsed
    return _originals["BaseJSONParser._parse_structure"](self, shape, value)


_moto_modules: list[tuple[str, ...]] = []


def _cached_list_of_moto_modules() -> Iterator[str]:
    """``moto.backends.list_of_moto_modules``, listed once: moto's lists its package directory
    (a listdir and ~170 isdir calls) for every request the server routes."""
    if not _moto_modules:
        _moto_modules.append(tuple(_originals["moto.backends.list_of_moto_modules"]()))
    return iter(_moto_modules[0])


def _patches() -> list[tuple[Any, str, Any]]:
    """(class or module, attribute, replacement) for every patch."""
    from moto import backends
    from moto.core.parse import BaseJSONParser
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.validators import ExpressionAttributeResolvingProcessor, Validator
    from moto.dynamodb.responses import DynamoResult

    return [
        (backends, "list_of_moto_modules", _cached_list_of_moto_modules),
        (BaseJSONParser, "_parse_structure", _fast_parse_structure),
        (DynamoResult, "execute_result", _fast_execute_result),
        (ConditionExpressionParser, "_lex_condition_expression", _cached_lex_condition_expression),
        (Item, "project", _fast_project),
        (UpdateExpressionParser, "make", classmethod(_cached_update_expression)),
        (Validator, "__init__", _fast_validator_init),
        (Validator, "validate", _fast_validate),
        (DepthFirstTraverser, "traverse", _fast_traverse),
        (ExpressionAttributeResolvingProcessor, "pre_processing_of_child", _fast_resolving_hook),
        (DynamoType, "__init__", _fast_dynamo_type_init),
        (Item, "__init__", _fast_item_init),
        (DynamoType, "__deepcopy__", _fast_dynamo_type_deepcopy),
        (DynamoType, "size", _fast_size),
        (DynamoType, "to_regular_json", _fast_to_regular_json),
    ]


def is_installed() -> bool:
    return bool(_originals)


def install() -> None:
    """Patch moto in this process; a no-op if already installed."""
    if _originals:
        return
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]

    _Moto.DynamoType, _Moto.Node, _Moto.DepthFirstTraverser = DynamoType, Node, DepthFirstTraverser
    _Moto.ActionCountValidator = validators.ActionCountValidator
    _Moto.OverlappingPathsValidator = validators.OverlappingPathsValidator
    _Moto.UpdateHashRangeKeyValidator = validators.UpdateHashRangeKeyValidator
    _Moto.ActionNodes = (
        validators.UpdateExpressionSetAction,
        validators.UpdateExpressionRemoveAction,
        validators.UpdateExpressionDeleteAction,
        validators.UpdateExpressionAddAction,
    )
    for owner, name, replacement in _patches():
        _originals[f"{owner.__name__}.{name}"] = getattr(owner, name)  # what a patch falls back to
        _originals[f"own {owner.__name__}.{name}"] = owner.__dict__.get(name)  # None: inherited
        setattr(owner, name, replacement)


def uninstall() -> None:
    """Restore moto's own methods (for tests and benchmarks comparing both)."""
    if not _originals:
        return
    for owner, name, _ in _patches():
        own = _originals[f"own {owner.__name__}.{name}"]
        if own is None:
            delattr(owner, name)  # inherited again
        else:
            setattr(owner, name, own)
    _originals.clear()
    _update_asts.clear()
    _passed_checks.clear()
    _moto_modules.clear()
    _condition_tokens.clear()
