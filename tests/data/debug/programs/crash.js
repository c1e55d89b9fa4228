// Crashes the way regenerate.sh asks: node crash.js undefined|async|range|refused
'use strict';
const net = require('net');

function nameOf(user) {
  return user.profile.name;
}

async function fetchUser(id) {
  await new Promise((resolve) => setTimeout(resolve, 1));
  return nameOf({ id });
}

async function handler(id) {
  return await fetchUser(id);
}

function grow(list, size) {
  return new Array(size).concat(list);
}

function connect(port) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', (error) => { throw error; });
}

const kind = process.argv[2];
console.log(`starting ${kind}`);
if (kind === 'undefined') {
  nameOf({ id: 1 });
} else if (kind === 'async') {
  handler(7);
} else if (kind === 'range') {
  grow([], -1);
} else {
  connect(1);
}
