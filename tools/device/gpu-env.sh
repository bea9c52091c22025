# tools/device/gpu-env.sh - sourced at the top of the device scripts that use the GPU through
# Vulkan or run from a carried .head tree: unpacks the Vulkan loader debs of .gl, moves into .head
# (git archive HEAD without tests/fixtures, so that edits in progress stay behind; the fixtures,
# .debs, .gl and .base come along), points the loader at NVIDIA's ICD, and sets
#   R, L   the unpacked .debs root and its library folder
#   F, G   CFLAGS= / LDFLAGS= arguments for make against them
#   el     el WHAT: prints the seconds since the start and WHAT
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
if [ -d .head ]; then
    ln -sfn "$PWD/tests/fixtures" .head/tests/fixtures
    cp -r .debs .gl .head/ 2>/dev/null
    [ -d .base ] && cp -r .base .head/
    cd .head || exit 1
fi
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
F="CFLAGS=-I$R/usr/include"; G="LDFLAGS=-L$L -Wl,-rpath,$L"
