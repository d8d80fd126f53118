"""python3 add_metadata.py FILE.wasm VERSION DESCRIPTION

Appends `version` and `description` custom sections to a component: what
`wasm-tools metadata add --version ... --description ...` does, without
needing wasm-tools. `hookwasm plugin list` shows them."""

import sys


def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def custom_section(name: str, text: str) -> bytes:
    body = leb128(len(name.encode())) + name.encode() + text.encode()
    return b"\x00" + leb128(len(body)) + body


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__.splitlines()[0])
    path, version, description = sys.argv[1:]
    with open(path, "rb") as f:
        wasm = f.read()
    if wasm[:4] != b"\x00asm":
        sys.exit(f"{path} is not WebAssembly")
    with open(path, "wb") as f:
        f.write(wasm + custom_section("version", version) + custom_section("description", description))


if __name__ == "__main__":
    main()
