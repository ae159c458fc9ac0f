#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying the examples and for
# their test: local-cluster.sh start DIR | stop DIR. Needs root and Debian's
# slurm-wlm and munge (make deps installs them). It writes DIR/slurm.conf
# (this host, all its cores, no accounting), starts munged (as user munge)
# if none runs, then slurmctld and slurmd, and waits until the node is idle.
# Use the cluster with SLURM_CONF=DIR/slurm.conf in the environment.
set -euo pipefail
cmd=${1:?usage: local-cluster.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: local-cluster.sh start|stop DIR}")
export SLURM_CONF=$dir/slurm.conf

case $cmd in
start)
  [ "$(id -u)" -eq 0 ] || { echo "local-cluster.sh: needs root (slurmd runs jobs as their user)" >&2; exit 1; }
  for b in munged slurmctld slurmd sbatch; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || { echo "local-cluster.sh: $b missing: apt-get install slurm-wlm munge" >&2; exit 1; }
  done
  export PATH=$PATH:/usr/sbin
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(($(awk '/^MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2))
  cat >"$SLURM_CONF" <<CONF
ClusterName=actprof
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  if ! pgrep -x munged >/dev/null; then
    if [ ! -s /etc/munge/munge.key ]; then
      if command -v mungekey >/dev/null || [ -x /usr/sbin/mungekey ]; then mungekey --create --force; else create-munge-key -f; fi
      chown munge:munge /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- munged
  fi
  slurmctld
  slurmd
  for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then exit 0; fi
    sleep 0.5
  done
  echo "local-cluster.sh: the node did not come up in 30 s; logs in $dir/log" >&2
  tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
  exit 1
  ;;
stop)
  for d in slurmd slurmctld; do
    if [ -f "$dir/$d.pid" ]; then kill "$(cat "$dir/$d.pid")" 2>/dev/null || true; fi
  done
  for _ in $(seq 20); do
    pgrep -f "$SLURM_CONF" >/dev/null || pgrep -x slurmctld >/dev/null || break
    sleep 0.25
  done
  ;;
*)
  echo "usage: local-cluster.sh start|stop DIR" >&2
  exit 2
  ;;
esac
