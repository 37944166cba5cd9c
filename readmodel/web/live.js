// The client side of graphql-transport-ws in one small module, no dependency: connects, subscribes, answers
// pings, and after a lost connection reconnects and subscribes again (the server sends the current state
// first, so nothing shown stays stale).
const RECONNECT_MS = 1000;

export class Live {
  constructor(url, onStatus = () => {}) {
    this.url = url;
    this.onStatus = onStatus;
    this.subscriptions = new Map();
    this.nextId = 1;
    this.acknowledged = false;
    this.open();
  }

  open() {
    const socket = new WebSocket(this.url, "graphql-transport-ws");
    this.socket = socket;
    socket.onopen = () => this.send({ type: "connection_init", payload: {} });
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = () => {
      this.acknowledged = false;
      this.onStatus("reconnecting");
      setTimeout(() => this.open(), RECONNECT_MS);
    };
  }

  receive(message) {
    const subscription = this.subscriptions.get(message.id);
    if (message.type === "connection_ack") {
      this.acknowledged = true;
      this.onStatus("live");
      for (const [id, s] of this.subscriptions) this.start(id, s);
    } else if (message.type === "ping") {
      this.send({ type: "pong" });
    } else if (message.type === "next" && subscription) {
      subscription.onNext(message.payload);
    } else if (message.type === "error" && subscription) {
      subscription.onNext({ errors: message.payload });
    } else if (message.type === "complete" && subscription) {
      this.subscriptions.delete(message.id);
      subscription.onComplete();
    }
  }

  // onNext receives each payload ({data, errors}); returns a function that ends the subscription.
  subscribe(query, variables, onNext, onComplete = () => {}) {
    const id = String(this.nextId++);
    const subscription = { query, variables, onNext, onComplete };
    this.subscriptions.set(id, subscription);
    if (this.acknowledged) this.start(id, subscription);
    return () => {
      if (this.subscriptions.delete(id) && this.acknowledged) this.send({ id, type: "complete" });
    };
  }

  start(id, { query, variables }) {
    this.send({ id, type: "subscribe", payload: { query, variables } });
  }

  send(message) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}

export function graphqlUrl(path = "/graphql") {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}
