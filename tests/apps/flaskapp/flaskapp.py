"""A real Flask application receiving uploads three ways; each answer is a SHA-256."""
import hashlib

from flask import Flask, request

app = Flask(__name__)


@app.post("/upload")
def upload():
    stored = request.files["file"]
    digest = hashlib.sha256(stored.read()).hexdigest()
    return f"{stored.filename} {digest} {request.form.get('note', '')}"


@app.post("/raw")
def raw():
    data = request.get_data()
    return f"{len(data)} {hashlib.sha256(data).hexdigest()}"


@app.get("/hello/<name>")
def hello(name):
    return f"hello {name} {request.args.get('q', '')}"
