# include(embed.cmake) with INPUT, OUTPUT and NAME set: OUTPUT (a header)
# defines NAME as a NUL-terminated char array holding INPUT's bytes, so a
# program carries the file (mmstat-exporter's dashboard.html) with no
# path to find at run time. OUTPUT is rewritten only if it would change.
file(READ "${INPUT}" _embed_hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _embed_bytes
  "${_embed_hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" _embed_bytes "${_embed_bytes}")
get_filename_component(_embed_src "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "/* Generated from ${_embed_src} by tools/embed.cmake: do not edit. */\n"
  "static const char ${NAME}[] = {\n${_embed_bytes}0x00};\n")
configure_file("${OUTPUT}.tmp" "${OUTPUT}" COPYONLY)
file(REMOVE "${OUTPUT}.tmp")
