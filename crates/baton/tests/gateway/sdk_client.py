"""The official OpenAI Python SDK as an organization's app uses it, pointed at Baton's gateway.

    python sdk_client.py BASE_URL API_KEY

Prints one JSON object with what each call gave; an unexpected failure exits non-zero.
"""
import json
import sys

import openai
from openai import OpenAI

base, key = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
seen = {}

seen["models"] = sorted(model.id for model in client.models.list())

answer = client.chat.completions.create(
    model="openai/gpt-4o-mini",
    messages=[
        {"role": "system", "content": "You answer for Acme Bakery."},
        {"role": "user", "content": "Do you bake on Sundays?"},
        {"role": "assistant", "content": "Yes, until noon."},
        {"role": "user", "content": "And on Mondays?"},
    ],
    max_tokens=50,
)
seen["text"] = answer.choices[0].message.content
seen["model"] = answer.model
seen["usage"] = [answer.usage.prompt_tokens, answer.usage.completion_tokens]

stream = client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "Stream it"}],
    stream=True,
    stream_options={"include_usage": True},
)
parts, usage = [], None
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
    if chunk.usage:
        usage = [chunk.usage.prompt_tokens, chunk.usage.completion_tokens]
seen["streamed"] = "".join(parts)
seen["streamed_usage"] = usage

shaped = client.chat.completions.create(
    model="openai/gpt-4o-mini",
    messages=[{"role": "user", "content": "Opening hours as JSON"}],
    response_format={
        "type": "json_schema",
        "json_schema": {"name": "hours", "schema": {"type": "object", "properties": {"open": {"type": "string"}}, "required": ["open"]}},
    },
)
seen["shaped"] = json.loads(shaped.choices[0].message.content)

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "Hi"}])
    seen["unknown_model"] = "answered"
except openai.UnprocessableEntityError as error:
    seen["unknown_model"] = error.status_code

try:
    OpenAI(base_url=f"{base}/v1", api_key="baton_not-a-key", max_retries=0).models.list()
    seen["bad_key"] = "answered"
except openai.AuthenticationError as error:
    seen["bad_key"] = error.status_code

print(json.dumps(seen))
