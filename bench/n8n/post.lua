-- wrk: POST the same small JSON body every time.
wrk.method = "POST"
wrk.body = '{"name": "bench", "score": 72}'
wrk.headers["Content-Type"] = "application/json"
