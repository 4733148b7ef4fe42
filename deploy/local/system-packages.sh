#!/usr/bin/env bash
# The Debian packages the platform and its tests use beyond Python and npm packages: a JDK (EPUBCheck runs in a
# JVM; its worker is compiled once), Node.js with npm (Readium's reference implementations, the web app),
# Chromium (end-to-end tests), DejaVu fonts (watermarks), yaz (yaz-marcdump: an independent MARC21 reader and
# MARC-8 converter for the MARC tests), Tesseract with its Vietnamese model (OCR of scans), and podman with runc and
# mmdebstrap (`make images` builds and the image test runs the real images). Installs only what is missing,
# non-interactively.
set -euo pipefail

declare -A needed=([javac]=default-jdk-headless [java]=default-jdk-headless [node]=nodejs [npm]=npm [chromium]=chromium
    [yaz-marcdump]=yaz [podman]=podman [runc]=runc [mmdebstrap]=mmdebstrap)
missing=()
for command in "${!needed[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${needed[$command]}")
done
# DejaVu Sans draws the Vietnamese letters of watermarks on page images
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
# Tesseract reads scanned local documents; the Vietnamese model is its own package
command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr)
compgen -G "/usr/share/tesseract-ocr/*/tessdata/vie.traineddata" >/dev/null || missing+=(tesseract-ocr-vie)
if ((${#missing[@]} == 0)); then
    exit 0
fi
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
echo "installing Debian packages: $packages"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the package list is intended
$sudo apt-get install -y -qq --no-install-recommends $packages
