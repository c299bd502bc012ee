-- heapdig database schema.  This is a contract with users: every release
-- keeps these tables and columns (more may be added).  `heapdig load` embeds
-- this file at build time.  Statements after the "@post-load" marker are
-- the indexes: the load writes those on objects and edges itself, page by
-- page with their rows (analyzer/store/bulk.c), and SQLite the others.

-- Facts about the dump: python_version, pid, argv, time, counts (objects,
-- refs, total_size; unreachable and unreachable_size: the garbage), ...
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value
) WITHOUT ROWID;

-- Where the process's memory went (dumps of format 1.3 on; empty before):
-- rss, objects (the sizes added up), python_free (free and overhead inside
-- Python's allocator), malloc_free, unaccounted (rss minus those three) and
-- unaccounted_allocated (of it, what the allocators handed out beyond the
-- objects), unseen_small (pymalloc blocks in use beyond the objects of 512
-- bytes or less: objects only C code reaches), then every figure the dumper read (rss_peak, pss, rss_anon,
-- rss_file, pymalloc_used, malloc_used, tracemalloc_traced, ...), each with
-- a note saying what it is; in that order (ORDER BY rowid).
CREATE TABLE memory (
    part  TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL,
    note  TEXT NOT NULL
);

CREATE TABLE types (
    id       INTEGER PRIMARY KEY,
    object   INTEGER,          -- objects.id of the type object itself
    name     TEXT NOT NULL,    -- e.g. 'OrderedDict'
    module   TEXT,             -- e.g. 'collections'
    count    INTEGER,          -- instances
    size     INTEGER,          -- their shallow bytes
    retained INTEGER           -- bytes freed if all instances were freed
);

CREATE TABLE objects (
    id        INTEGER PRIMARY KEY,   -- dense id, dump order
    address   INTEGER NOT NULL,      -- id() in the dumped process
    type      INTEGER NOT NULL REFERENCES types,
    size      INTEGER NOT NULL,      -- shallow bytes, = sys.getsizeof()
    refcount  INTEGER NOT NULL,      -- as the program saw it
    length    INTEGER,               -- len() for built-in sized objects
    flags     INTEGER NOT NULL,      -- see object_flags
    value     TEXT,                  -- short value / name, if recorded
    traceback INTEGER,               -- tracebacks.id of the allocation site
    -- Analysis columns (NULL until the analysis stage fills them):
    external  INTEGER,  -- refcount minus strong in-heap references
    scc       INTEGER,  -- component id for objects on a cycle
    reachable INTEGER,  -- 1 if reachable from a root over strong edges
    depth     INTEGER,  -- BFS distance from the roots
    parent    INTEGER,  -- BFS predecessor (objects.id)
    idom      INTEGER,  -- immediate dominator (NULL = virtual root)
    retained  INTEGER,  -- bytes freed if this object were freed
    path      INTEGER,  -- paths.id: where it is held, for diffs
    held_as   INTEGER   -- labels.id: how its idom refers to it, if directly
);

-- Where objects are held, generalised so that it compares across dumps:
-- the chain from a root with list indices and data-dict keys as [*],
-- e.g. "sys.modules['app'].__dict__['_CACHE'][*].payload"; recursion
-- folded ("['head'](.next)+", "root(.children[*])+").  Stored as a tree:
-- a signature is its last step (a label) after the text of its parent;
-- hash is of the whole text, equal for equal texts in any dump.
CREATE TABLE path_steps (
    id     INTEGER PRIMARY KEY,
    parent INTEGER,           -- path_steps.id, NULL at a root
    step   INTEGER NOT NULL,  -- labels.id
    hash   INTEGER NOT NULL
);

-- Every signature's text (built by walking the tree: read a few rows of
-- it, or use heapdig's own commands, on big heaps).
CREATE VIEW paths AS
WITH RECURSIVE up(id, at, signature) AS (
    SELECT p.id, p.parent, l.text FROM path_steps p JOIN labels l ON l.id = p.step
    UNION ALL
    SELECT up.id, p.parent, l.text || up.signature
    FROM up JOIN path_steps p ON p.id = up.at JOIN labels l ON l.id = p.step
    WHERE p.parent IS NULL OR p.parent < p.id)  -- parents first: no loops
SELECT id, signature FROM up WHERE at IS NULL;

-- Objects counted by where they are held and their type: the rows `diff`
-- compares.  retained counts an object once even where its group nests
-- (a linked list's links, all at "['head'](.next)+").
CREATE TABLE held (
    path     INTEGER,          -- paths.id; NULL: garbage
    type     INTEGER NOT NULL, -- types.id
    count    INTEGER NOT NULL,
    size     INTEGER NOT NULL, -- shallow bytes
    retained INTEGER NOT NULL  -- bytes freed if all of them were freed
);

-- Memory the program could keep for less (heapdig waste): kind
-- 'duplicate' (equal str/bytes values held as distinct objects), 'empty'
-- (built-in containers with 0 or 1-2 items, by type and where they are
-- held) or 'slots' (instances whose __dict__ a __slots__ would replace);
-- example is one of them; path where most of them are held.  Only groups
-- of two or more, and only what a root reaches.
CREATE TABLE waste (
    kind       TEXT NOT NULL,
    type       INTEGER NOT NULL,  -- types.id
    example    INTEGER NOT NULL,  -- objects.id
    count      INTEGER NOT NULL,
    size       INTEGER NOT NULL,  -- bytes they take
    saved_size INTEGER NOT NULL,  -- bytes a fix would save
    path       INTEGER            -- paths.id
);

-- What an object dominating 5,000 objects or more holds, grouped by type
-- and label (items and keys as '[*]'; NULL: dominated, not referred to):
-- the "holds" lines of suspects, found at load for the big ones.
CREATE TABLE holds (
    object   INTEGER NOT NULL,  -- objects.id of the dominator
    type     INTEGER NOT NULL,  -- types.id of what it holds
    label    TEXT,
    count    INTEGER NOT NULL,
    retained INTEGER NOT NULL
);

-- The dominator tree grouped as `heapdig tree` shows it (what each row
-- dominates by type and label, items and keys as '[*]' where no one label
-- retains enough; groups retaining threshold bytes or more), kept by the
-- load for the thresholds of tree and its flame graph (0.5% and 0.01% of
-- the heap), all levels: row 0 of each walk is the tops' parent, the rest
-- in the order shown (depth first, largest first), each after its parent.
CREATE TABLE tree (
    threshold INTEGER NOT NULL,  -- bytes
    id        INTEGER NOT NULL,  -- 0, 1, ... within the walk
    parent    INTEGER,           -- tree.id of the row above; NULL for row 0
    retained  INTEGER NOT NULL,  -- the group's (row 0: the tops')
    size      INTEGER NOT NULL,  -- its shallow bytes
    count     INTEGER NOT NULL,  -- objects in it
    object    INTEGER,           -- objects.id of the one retaining most
    type      INTEGER,           -- types.id
    label     TEXT,              -- how they are held; a root's name at the top
    PRIMARY KEY (threshold, id)
) WITHOUT ROWID;

-- References: src holds dst, stored as edges (clustered on src, seq: a
-- reference's position among src's) with their labels stored once, and
-- read through the refs view.  label is how src names it: '.attr',
-- "['key']", '[3]', '<key>', ".f_locals['x']", or NULL.
CREATE TABLE labels (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);

CREATE TABLE edges (
    src   INTEGER NOT NULL,
    seq   INTEGER NOT NULL,
    dst   INTEGER NOT NULL,
    weak  INTEGER NOT NULL CHECK (weak IN (0, 1)),
    label INTEGER,            -- labels.id
    PRIMARY KEY (src, seq)
) WITHOUT ROWID;

CREATE VIEW refs AS
SELECT e.src, e.seq, e.dst,
       CASE e.weak WHEN 0 THEN 'strong' ELSE 'weak' END AS kind,
       l.text AS label
FROM edges e LEFT JOIN labels l ON l.id = e.label;

-- Reference cycles (strongly connected components over strong edges).
-- reachable = 0: cyclic garbage, what gc.collect() would free.
-- A component through a module or a class takes in every instance its
-- globals hold (instance -> class -> method -> __globals__ -> globals);
-- the cycles among the rest of it (without modules, classes, functions and
-- their __dict__s: a Session and its Connection) are rows of their own;
-- backbone marks the cycles through a module or a class (`heapdig cycles`
-- sums them up: every program has them).
CREATE TABLE cycles (
    id         INTEGER PRIMARY KEY,  -- = objects.scc
    members    INTEGER NOT NULL,
    size       INTEGER NOT NULL,     -- shallow bytes of the members
    retained   INTEGER NOT NULL,     -- bytes freed if the cycle were freed
    reachable  INTEGER NOT NULL,
    finalizers INTEGER NOT NULL,     -- members with __del__ / tp_finalize
    backbone   INTEGER NOT NULL      -- 1: through a module or a class
);

-- Named roots: sys.modules, builtins, thread frames, frame locals, thread
-- dicts and contexts, atexit's callbacks (kind 'interpreter').
CREATE TABLE roots (
    object INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    name   TEXT
);

-- tracemalloc allocation sites (frame 0 is the most recent call).
CREATE TABLE tracebacks (
    id       INTEGER NOT NULL,
    frame    INTEGER NOT NULL,
    filename TEXT,
    lineno   INTEGER,
    PRIMARY KEY (id, frame)
) WITHOUT ROWID;

-- What the bits of objects.flags mean.
CREATE TABLE object_flags (
    bit  INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
INSERT INTO object_flags VALUES
    (1, 'gc_tracked'), (2, 'finalizer'), (4, 'legacy_del'), (8, 'type'),
    (16, 'module'), (32, 'immortal'), (64, 'size_approx'),
    (1024, 'value_truncated'), (2048, 'gc_type'),
    (4096, 'value_str');  -- set by the load: value is a str's text, unquoted

-- Objects as people read them.
CREATE VIEW object_view AS
SELECT o.id, printf('0x%x', o.address) AS address, t.name AS type,
       t.module AS module, o.size, o.refcount, o.length, o.value,
       o.external, o.reachable, o.retained, o.depth, o.parent, o.flags
FROM objects o JOIN types t ON t.id = o.type;

-- References with both ends named.
CREATE VIEW ref_view AS
SELECT r.src, st.name AS src_type, r.label, r.kind, r.dst, dt.name AS dst_type,
       d.value AS dst_value
FROM refs r
JOIN objects s ON s.id = r.src JOIN types st ON st.id = s.type
JOIN objects d ON d.id = r.dst JOIN types dt ON dt.id = d.type;

-- The type histogram.
CREATE VIEW type_stats AS
SELECT id AS type, name, module, count, size, retained
FROM types WHERE count > 0;

-- Every root: the named ones and every object held from outside the heap.
CREATE VIEW all_roots AS
SELECT object, kind, name FROM roots
UNION ALL
SELECT id, 'external', printf('held from outside: %d refs', external)
FROM objects WHERE external > 0 AND id NOT IN (SELECT object FROM roots);

-- @post-load
-- Each index here costs load time on big heaps; these are the ones the
-- interactive commands (path, show, referrers, suspects) need.
CREATE UNIQUE INDEX objects_address ON objects(address);
CREATE INDEX edges_dst ON edges(dst, src);  -- (dst, src): one edge's label in one seek
CREATE INDEX roots_object ON roots(object);
CREATE INDEX holds_object ON holds(object);
-- children, largest first; with their type, label and size, so that
-- grouping a million children (and checking that they add up to what their
-- parent retains) reads the index alone (no row lookups)
CREATE INDEX objects_idom ON objects(idom, retained, type, held_as, size);
CREATE INDEX objects_scc ON objects(scc) WHERE scc IS NOT NULL;
-- held from outside the heap: `external` and the all_roots view
CREATE INDEX objects_external ON objects(external) WHERE external > 0;
