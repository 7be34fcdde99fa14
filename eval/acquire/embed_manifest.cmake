# cmake -DIN=datasets.manifest -DOUT=datasets_manifest_data.cc -P embed_manifest.cmake
# Writes the manifest as a byte array (string literals that long trip -Wpedantic).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR size "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "// Generated from eval/acquire/datasets.manifest by embed_manifest.cmake; do not edit.\n"
  "extern const unsigned char kProctorDatasetsManifest[];\n"
  "extern const unsigned long kProctorDatasetsManifestSize;\n"
  "const unsigned char kProctorDatasetsManifest[] = {\n${bytes}0x00};\n"
  "const unsigned long kProctorDatasetsManifestSize = ${size};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
