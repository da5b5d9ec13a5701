#!/usr/bin/env python3
"""Load generator for `dsvl serve` (any OpenAI-compatible /v1/chat/completions server).

Standard library only. Every request streams (SSE), so time to first token (TTFT) and the gaps
between content chunks (inter-token latency, ITL) are measured at the client. Prints one JSON
object per scenario on stdout.

Scenarios:
  concurrency  K clients (for each K in --clients) each send --requests streaming requests back to
               back; reports requests/s, aggregate generated tok/s, TTFT and ITL percentiles.
  interference K text streams run while one more request with an image arrives; reports the ITL of
               the running streams while that image is being encoded against their ITL without it.
  second-turn  a conversation with an image, then its second turn resending the history and the
               same image (as an OpenAI client does); reports both TTFTs and their ratio, and the
               cached tokens the server reported.

Example:
  build/bin/dsvl serve -m /tmp/perf-models/vl2-tiny --parallel 8 --port 8080 &
  python3 bench/serve_load.py --url http://127.0.0.1:8080 --image photo.jpg --clients 1,2,4,8
"""
import argparse
import base64
import json
import statistics
import threading
import time
import urllib.request


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def summary(values, scale=1000.0):
    """p50/p90/p99/mean in milliseconds (values in seconds)."""
    if not values:
        return None
    return {
        "p50": percentile(values, 50) * scale,
        "p90": percentile(values, 90) * scale,
        "p99": percentile(values, 99) * scale,
        "mean": statistics.fmean(values) * scale,
        "n": len(values),
    }


class Client:
    def __init__(self, url, model, api_key=None, timeout=600):
        self.url = url.rstrip("/") + "/v1/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    def stream(self, messages, max_tokens, on_chunk=None):
        """Sends one streaming request. Returns dict with start, ttft, chunk times, tokens, usage."""
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers)
        start = time.perf_counter()
        times, usage, text = [], None, []
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            for raw in resp:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices", []):
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        now = time.perf_counter()
                        times.append(now)
                        text.append(piece)
                        if on_chunk:
                            on_chunk(now)
        end = time.perf_counter()
        tokens = usage["completion_tokens"] if usage else len(times)
        return {
            "start": start,
            "end": end,
            "ttft": (times[0] - start) if times else None,
            "times": times,
            "tokens": tokens,
            "usage": usage,
            "text": "".join(text),
        }


def image_part(path):
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    mime = "image/png" if path.lower().endswith(".png") else "image/jpeg"
    return {"type": "image_url", "image_url": {"url": "data:%s;base64,%s" % (mime, data)}}


def user_message(text, image=None):
    if image is None:
        return {"role": "user", "content": text}
    return {"role": "user", "content": [image_part(image), {"type": "text", "text": text}]}


def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


def concurrency(client, args, k):
    results, lock = [], threading.Lock()

    def worker(i):
        for r in range(args.requests):
            image = args.image if (args.image and args.image_every and (i + r) % args.image_every == 0) else None
            res = client.stream([user_message("%s (client %d, request %d)" % (args.prompt, i, r), image)],
                                args.max_tokens)
            with lock:
                results.append(res)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    tokens = sum(r["tokens"] for r in results)
    return {
        "scenario": "concurrency",
        "clients": k,
        "requests": len(results),
        "wall_s": wall,
        "requests_per_s": len(results) / wall,
        "generated_tok_s": tokens / wall,
        "ttft_ms": summary([r["ttft"] for r in results if r["ttft"] is not None]),
        "itl_ms": summary([g for r in results for g in gaps(r["times"])]),
    }


def interference(client, args, k):
    """k text streams; while they run, one image request. Compares the streams' gaps that fall in
    the image request's prefill window (its start to its first token) with their other gaps."""
    streams, lock = [], threading.Lock()
    window = {}

    def text_worker(i):
        res = client.stream([user_message("%s (stream %d)" % (args.prompt, i))], args.max_tokens)
        with lock:
            streams.append(res)

    threads = [threading.Thread(target=text_worker, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    time.sleep(args.interference_delay)
    img = client.stream([user_message("Describe the image.", args.image)], 8)
    window["start"], window["first"] = img["start"], img["start"] + (img["ttft"] or 0)
    for t in threads:
        t.join()
    inside, outside = [], []
    for r in streams:
        for a, b in zip(r["times"], r["times"][1:]):
            (inside if (b > window["start"] and a < window["first"]) else outside).append(b - a)
    base = summary(outside)
    during = summary(inside)
    return {
        "scenario": "interference",
        "streams": k,
        "image_ttft_ms": (img["ttft"] or 0) * 1000.0,
        "itl_ms_without_image": base,
        "itl_ms_during_image_encode": during,
        "p99_ratio": (during["p99"] / base["p99"]) if (base and during) else None,
    }


def second_turn(client, args):
    first_q = user_message("Describe the image.", args.image)
    r1 = client.stream([first_q], args.max_tokens)
    history = [first_q, {"role": "assistant", "content": r1["text"]}, user_message("And what else?")]
    r2 = client.stream(history, args.max_tokens)
    cached = None
    if r2["usage"]:
        cached = (r2["usage"].get("prompt_tokens_details") or {}).get("cached_tokens")
    return {
        "scenario": "second-turn",
        "first_ttft_ms": r1["ttft"] * 1000.0 if r1["ttft"] else None,
        "second_ttft_ms": r2["ttft"] * 1000.0 if r2["ttft"] else None,
        "speedup": (r1["ttft"] / r2["ttft"]) if (r1["ttft"] and r2["ttft"]) else None,
        "second_prompt_tokens": r2["usage"]["prompt_tokens"] if r2["usage"] else None,
        "second_cached_tokens": cached,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--model", default="dsvl")
    ap.add_argument("--api-key")
    ap.add_argument("--clients", default="1,2,4,8", help="comma-separated K values")
    ap.add_argument("--requests", type=int, default=2, help="requests per client (concurrency)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt", default="Write a short story about a lighthouse.")
    ap.add_argument("--image", help="image file for the image scenarios")
    ap.add_argument("--image-every", type=int, default=0,
                    help="concurrency: every Nth request carries --image (0: text only)")
    ap.add_argument("--interference-delay", type=float, default=1.0,
                    help="seconds the text streams run before the image request")
    ap.add_argument("--scenarios", default="concurrency,interference,second-turn")
    args = ap.parse_args()
    client = Client(args.url, args.model, args.api_key)
    ks = [int(k) for k in args.clients.split(",") if k]
    scenarios = args.scenarios.split(",")
    if "concurrency" in scenarios:
        for k in ks:
            print(json.dumps(concurrency(client, args, k)), flush=True)
    if args.image and "interference" in scenarios:
        print(json.dumps(interference(client, args, max(ks))), flush=True)
    if args.image and "second-turn" in scenarios:
        print(json.dumps(second_turn(client, args)), flush=True)


if __name__ == "__main__":
    main()
