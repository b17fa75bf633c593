"""pywork: an everyday python3 script: json, re, hashlib and zlib over a few MB."""
import hashlib
import json
import re
import zlib

records = [{"id": i, "name": f"item{i}", "tags": ["alpha", "beta", str(i % 7)],
            "value": i * 1.5, "note": "lorem ipsum dolor sit amet " * (i % 5)}
           for i in range(20000)]
text = json.dumps(records, indent=1)
back = json.loads(text)
assert back == records
names = re.findall(r'"name": "item(\d+)"', text)
words = len(re.split(r"\W+", text))
data = text.encode()
digest = hashlib.sha256(data).hexdigest()
packed = zlib.compress(data, 6)
assert zlib.decompress(packed) == data
print(len(data), len(back), len(names), words, digest[:16], len(packed))
