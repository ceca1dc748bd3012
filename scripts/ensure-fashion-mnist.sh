#!/bin/sh
# Make sure the full Fashion-MNIST is on this machine, without touching the internet at run time.
# Debian and Ubuntu ship it as the package `dataset-fashion-mnist` (in /usr/share/datasets/fashion-mnist).
# Where apt and root are available we install it; elsewhere we say how to get the data and carry on:
# `cnnzoo data fetch fashion-mnist` downloads it from the official mirrors.
dir=/usr/share/datasets/fashion-mnist
[ -f "$dir/train-images-idx3-ubyte.gz" ] && exit 0
for d in "${CNNZOO_DATA:-/nonexistent}/fashion-mnist" "$HOME/.cache/cnnzoo/fashion-mnist"; do
    [ -f "$d/train-images-idx3-ubyte.gz" ] || [ -f "$d/train-images-idx3-ubyte" ] && exit 0
done
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing Fashion-MNIST (apt package dataset-fashion-mnist)"
    if ! apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
            || echo "setup: could not install dataset-fashion-mnist with apt"
    fi
fi
[ -f "$dir/train-images-idx3-ubyte.gz" ] && exit 0
echo "setup: Fashion-MNIST not found; install it with 'sudo apt-get install dataset-fashion-mnist'"
echo "       or download it with '.venv/bin/cnnzoo data fetch fashion-mnist'"
exit 0
