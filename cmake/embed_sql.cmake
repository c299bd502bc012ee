# Turns schema/heapdig.sql into a C string (run at build time, never by hand).
file(READ ${IN} _sql)
string(REPLACE "\\" "\\\\" _sql "${_sql}")
string(REPLACE "\"" "\\\"" _sql "${_sql}")
string(REPLACE "\n" "\\n\"\n\"" _sql "${_sql}")
file(WRITE ${OUT} "/* Generated from schema/heapdig.sql by cmake/embed_sql.cmake. */\nconst char hd_schema_sql[] =\n\"${_sql}\";\n")
