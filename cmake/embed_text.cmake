# Turns a text file (IN) into a C string NAME in OUT (run at build time, never
# by hand): the schema, and the report's style and script.
file(READ ${IN} _text)
string(REPLACE "\\" "\\\\" _text "${_text}")
string(REPLACE "\"" "\\\"" _text "${_text}")
string(REPLACE "?" "\\?" _text "${_text}") # no trigraphs in strict C
string(REPLACE "\n" "\\n\"\n\"" _text "${_text}")
get_filename_component(_base ${IN} NAME)
file(WRITE ${OUT} "/* Generated from ${_base} by cmake/embed_text.cmake. */\nconst char ${NAME}[] =\n\"${_text}\";\n")
