"""``python -m metainv.specs``: regenerate ``schemas/config.schema.json`` from the typed specs."""

from metainv.specs import write_json_schema

if __name__ == "__main__":
    print(write_json_schema())
