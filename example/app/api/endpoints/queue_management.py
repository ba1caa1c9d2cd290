from fastapi import APIRouter, Depends, HTTPException

from app.api.deps import get_current_user, ok
from app.core.circuit_breaker import SERVICES, circuit_breaker

router = APIRouter(prefix="/queue-management", tags=["queue-management"],
                   dependencies=[Depends(get_current_user)])


@router.get("/circuit-breakers")
def circuit_breakers():
    return ok({"circuit_breakers": circuit_breaker.get_all_states(),
               "global": circuit_breaker.get_global_state()})


@router.post("/circuit-breakers/{service}/reset")
def reset_circuit_breaker(service: str):
    if service not in SERVICES:
        raise HTTPException(status_code=404, detail=f"unknown service {service}")
    circuit_breaker.close(service)
    return ok(circuit_breaker.get_all_states()[service])
