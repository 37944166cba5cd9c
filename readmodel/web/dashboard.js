// The dashboard: three subscriptions over one WebSocket; each message replaces what its panel shows.
import { Live, graphqlUrl } from "./live.js";

const TOP = `subscription { topMoviesChanged(limit: 10) {
  asOf entries { rank viewCount movie { id title genre } } } }`;
const TRENDING = `subscription { trendingChanged(window: HOUR, limit: 10) {
  windowEnd entries { rank views movieId title } } }`;
const PIPELINE = `subscription { pipelineChanged {
  jobState lastCheckpointAgeSeconds lag readModelAgeSeconds deadLetters totalViews
  viewsPerSecond { at viewsPerSecond } } }`;

const $ = (id) => document.getElementById(id);
const number = new Intl.NumberFormat("en");

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(movieId, cells) {
  const tr = document.createElement("tr");
  tr.dataset.movie = movieId;
  tr.append(...cells);
  return tr;
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  return seconds < 60 ? `${seconds.toFixed(1)} s ago` : `${(seconds / 60).toFixed(1)} min ago`;
}

function showErrors(target, payload) {
  target.textContent = payload.errors.map((e) => e.message).join("; ");
  target.className = "bad";
}

function showTop(payload) {
  if (payload.errors) return showErrors($("top-as-of"), payload);
  const page = payload.data.topMoviesChanged;
  $("top").replaceChildren(...page.entries.map((e) => row(e.movie.id, [
    cell(e.rank, "rank"), cell(e.movie.title ?? e.movie.id, "title"), cell(e.movie.genre ?? ""),
    cell(number.format(e.viewCount), "count"),
  ])));
  $("top-as-of").textContent = page.asOf ?? "–";
}

function showTrending(payload) {
  if (payload.errors) return showErrors($("trending-note"), payload);
  const page = payload.data.trendingChanged;
  $("trending").replaceChildren(...page.entries.map((e) => row(e.movieId, [
    cell(e.rank, "rank"), cell(e.title ?? e.movieId, "title"), cell(number.format(e.views), "count"),
  ])));
  $("trending-note").textContent = page.entries.length
    ? `event time up to ${page.windowEnd}` : "no views in the last hour of event time";
}

function drawChart(points) {
  const svg = $("chart");
  const values = points.map((p) => p.viewsPerSecond);
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? 300 / (values.length - 1) : 0;
  const coordinates = values.map((v, i) => `${(i * step).toFixed(1)},${(100 - (v / max) * 95).toFixed(1)}`);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", coordinates.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#2f6fdf");
  line.setAttribute("stroke-width", "1.5");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.replaceChildren(line);
  $("rate").textContent = values.length ? number.format(Math.round(values.at(-1))) : "–";
  $("rate-max").textContent = number.format(Math.round(max));
  const span = points.length > 1 ? (new Date(points.at(-1).at) - new Date(points[0].at)) / 1000 : 0;
  $("rate-span").textContent = `${Math.round(span)} s`;
}

function showPipeline(payload) {
  if (payload.errors) return showErrors($("job-state"), payload);
  const p = payload.data.pipelineChanged;
  $("job-state").textContent = p.jobState;
  $("job-state").className = p.jobState === "RUNNING" ? "ok" : "bad";
  $("checkpoint-age").textContent = ago(p.lastCheckpointAgeSeconds);
  $("lag").textContent = p.lag === null ? "–" : `${number.format(p.lag)} events`;
  $("read-model-age").textContent = ago(p.readModelAgeSeconds);
  $("dead-letters").textContent = p.deadLetters === null ? "–" : number.format(p.deadLetters);
  $("total-views").textContent = number.format(p.totalViews);
  drawChart(p.viewsPerSecond);
}

const live = new Live(graphqlUrl(), (status) => {
  $("connection").textContent = status;
  $("connection").className = status;
});
live.subscribe(TOP, {}, showTop);
live.subscribe(TRENDING, {}, showTrending);
live.subscribe(PIPELINE, {}, showPipeline);
