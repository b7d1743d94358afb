# cmake -DINPUT=FILE -DOUTPUT=HEADER -DNAME=NAME -P embed.cmake: HEADER
# defines NAME as a NUL-terminated char array holding FILE's bytes, so a
# program carries the file (mmstat-exporter's dashboard.html) with no
# path to find at run time.
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
get_filename_component(src "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "/* Generated from ${src} by tools/embed.cmake: do not edit. */\n"
  "static const char ${NAME}[] = {\n${bytes}0x00};\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
